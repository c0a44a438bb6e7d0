"""`chainlake usage`: what an org used, per UTC day (the caller's orgs; RLS: members only)."""

from __future__ import annotations

from typing import Any

import click

from chainlake.cli.common import AS_USER, acting, handles_errors, print_rows
from chainlake.domain import usage as usage_domain


@click.command(help="Usage and cost per org and UTC day: CPU, memory, bytes written, queries.")
@click.option("--org", "org_name", default=None, help="One org (default: all of yours).")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366))
@AS_USER
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def usage(org_name: str | None, days: int, as_email: str | None, as_json: bool) -> None:
    with acting(as_email) as act:
        found = act(usage_domain.usage, org=org_name, days=days)

    def line(r: dict[str, Any]) -> str:
        memory = "-" if r["peak_memory_bytes"] is None else f"{r['peak_memory_bytes'] >> 20} MB"
        scanned = "-" if r["bytes_scanned"] is None else str(r["bytes_scanned"])
        return (
            f"{r['day']}  {r['org']}  attempts={r['attempts']}  cpu={r['cpu_seconds']:.1f}s  "
            f"peak_memory={memory}  written={r['bytes_written']}B  queries={r['queries']}  "
            f"query_seconds={r['query_seconds']:.2f}  scanned={scanned}  "
            f"answered={r['result_bytes']}B"
        )

    print_rows(found, as_json, line, "no usage in these days")
