"""`chainlake egress` (the operator): where outbound calls made on a tenant's behalf may go
besides public addresses (docs/alerts.md, docs/job-contract.md). `chainlake up` registers the
stack's own services and $CHAINLAKE_EGRESS_ALLOW; these commands change the allow-list between
restarts."""

from __future__ import annotations

from typing import Any

import click

from chainlake.cli.common import handles_errors, operating, print_rows
from chainlake.domain import egress as rules


@click.group(help="The egress allow-list and the platform's own addresses (operator).")
def egress() -> None:
    pass


@egress.command("allow", help="Allow exactly ADDRESS (host:port), e.g. a mail relay on loopback.")
@click.argument("address")
@click.option("--note", default="operator", help="Why (shown by `egress list`).")
@handles_errors
def egress_allow(address: str, note: str) -> None:
    with operating() as act:
        act(rules.allow_egress, address=address, note=note)
    click.echo(f"allowed {address}")


@egress.command("forget", help="Remove ADDRESS (host:port) from the allow-list.")
@click.argument("address")
@handles_errors
def egress_forget(address: str) -> None:
    with operating() as act:
        act(rules.forget_egress, address=address)
    click.echo(f"{address} is no longer allowed")


@egress.command("list", help="What is allowed, and the platform's own services (never reached).")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def egress_list(as_json: bool) -> None:
    def line(r: dict[str, Any]) -> str:
        host = f"[{r['host']}]" if ":" in r["host"] else r["host"]
        return f"{r['rule']:<8}  {host}:{r['port']}  {r['note']}"

    with operating() as act:
        found = act(rules.list_egress)
    print_rows(found, as_json, line, "nothing allowed besides public addresses")
