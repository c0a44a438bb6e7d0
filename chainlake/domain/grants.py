"""Sharing one dataset or saved query with another org, read-only (sql/82_sharing.sql)."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import one, rows

Conn = psycopg.Connection[Any]


def list_grants(conn: Conn, *, after: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """What the caller's orgs share (seen by their admins and the grant's author) and what is
    shared with them (seen by their members), a page at a time."""
    sql = "SELECT * FROM catalog.list_grants(p_after => %(after)s, p_limit => %(limit)s)"
    return rows(conn, sql, {"after": after, "limit": limit})


def grant_read(conn: Conn, *, kind: str, org: str, name: str, grantee: str) -> dict[str, Any]:
    """Share a dataset (as an admin of its org) or your saved query (as a writer of its org)."""
    sql = (
        "SELECT kind, org, name, grantee FROM catalog.grant_read("
        "p_kind => %(kind)s, p_org => %(org)s, p_name => %(name)s, p_to_org => %(grantee)s)"
    )
    return one(conn, sql, {"kind": kind, "org": org, "name": name, "grantee": grantee})


def revoke_read(conn: Conn, *, kind: str, org: str, name: str, grantee: str) -> None:
    """Stop sharing; the grantee's next request no longer sees the object."""
    sql = (
        "SELECT catalog.revoke_read("
        "p_kind => %(kind)s, p_org => %(org)s, p_name => %(name)s, p_from_org => %(grantee)s)"
    )
    rows(conn, sql, {"kind": kind, "org": org, "name": name, "grantee": grantee})
