"""`chainlake audit list`: who did what, when. Admins read their orgs' events (RLS); the
operator reads every event, platform-level ones (no org) included."""

from __future__ import annotations

import json
from typing import Any

import click

from chainlake.cli.common import AS_USER, acting, handles_errors, print_rows, stamp
from chainlake.domain import audit as events


@click.group(help="The audit log: who did what, when (append-only).")
def audit() -> None:
    pass


@audit.command("list", help="Recent audit events, newest first.")
@click.option("--org", "org_name", default=None, help="One org's events.")
@click.option("--action", default=None, help="Only this action, e.g. data.query, grant.add.")
@click.option("--limit", default=50, show_default=True)
@AS_USER
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def audit_list(
    org_name: str | None, action: str | None, limit: int, as_email: str | None, as_json: bool
) -> None:
    with acting(as_email) as act:
        found = act(
            events.list_audit_events, org=org_name, action=action, limit=max(1, min(limit, 10_000))
        )

    def line(r: dict[str, Any]) -> str:
        who = r["actor"] or r["actor_db_role"]
        return (
            f"{stamp(r['at'])}  {r['org'] or '-'}  {who}  {r['action']}  "
            f"{r['target']}  {json.dumps(r['detail'])[:120]}"
        )

    print_rows(found, as_json, line, "no audit events you may read")
