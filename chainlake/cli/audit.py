"""`chainlake audit list`: who did what, when. Admins read their orgs' events (RLS); the
operator reads every event, platform-level ones (no org) included."""

from __future__ import annotations

import json

import click

from chainlake.cli.common import AS_USER, fail, rows_as
from chainlake.errors import ChainlakeError


@click.group(help="The audit log: who did what, when (append-only).")
def audit() -> None:
    pass


@audit.command("list", help="Recent audit events, newest first.")
@click.option("--org", "org_name", default=None, help="One org's events.")
@click.option("--action", default=None, help="Only this action, e.g. data.query, grant.add.")
@click.option("--limit", default=50, show_default=True)
@AS_USER
@click.option("--json", "as_json", is_flag=True)
def audit_list(
    org_name: str | None, action: str | None, limit: int, as_email: str | None, as_json: bool
) -> None:
    try:
        rows = rows_as(
            as_email,
            "SELECT * FROM audit.list_events(%s, %s, NULL, %s)",
            (org_name, action, max(1, min(limit, 10_000))),
        )
    except ChainlakeError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        who = r["actor"] or r["actor_db_role"]
        click.echo(
            f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['org'] or '-'}  {who}  {r['action']}  "
            f"{r['target']}  {json.dumps(r['detail'])[:120]}"
        )
    if not rows:
        click.echo("no audit events you may read")
