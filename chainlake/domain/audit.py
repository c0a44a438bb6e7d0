"""The audit log: who did what, when. Admins read their orgs' events (RLS); the operator reads
every event, platform-level ones (no org) included."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import rows

Conn = psycopg.Connection[Any]


def list_audit_events(
    conn: Conn,
    *,
    org: str | None = None,
    action: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Events newest first, a page at a time (`after`: the `next` of the previous page)."""
    sql = (
        "SELECT * FROM audit.list_events("
        "p_org => %(org)s, p_action => %(action)s, p_before => %(after)s, p_limit => %(limit)s)"
    )
    return rows(conn, sql, {"org": org, "action": action, "after": after, "limit": limit})
