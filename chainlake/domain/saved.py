"""Saved queries: create or replace, list, find, delete (sql/80_query.sql). Running one is the
query engine's (chainlake.domain.query)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from chainlake.domain import one, rows

Conn = psycopg.Connection[Any]


def list_saved_queries(
    conn: Conn, *, after: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Your saved queries and those your orgs share, a page at a time (`after`: the last one's
    `cursor`)."""
    sql = "SELECT * FROM catalog.list_queries(p_after => %(after)s, p_limit => %(limit)s)"
    return rows(conn, sql, {"after": after, "limit": limit})


def save_query(
    conn: Conn,
    *,
    org: str,
    name: str,
    sql: str,
    visibility: str = "private",
    description: str = "",
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Create or replace one of your saved queries (visibility `org` needs the writer role)."""
    call = (
        "SELECT * FROM catalog.save_query(p_org => %(org)s, p_name => %(name)s, p_sql => %(sql)s,"
        " p_visibility => %(visibility)s, p_description => %(description)s, p_params => %(params)s)"
    )
    values = {"org": org, "name": name, "sql": sql, "visibility": visibility}
    return one(conn, call, {**values, "description": description, "params": Jsonb(params or {})})


def get_saved_query(conn: Conn, *, org: str, name: str) -> dict[str, Any]:
    """One saved query: yours by that name, else one your org shares."""
    sql = "SELECT * FROM catalog.find_query(p_org => %(org)s, p_name => %(name)s)"
    missing = f'no saved query "{name}" in org "{org}" that you may see'
    return one(conn, sql, {"org": org, "name": name}, missing)


def delete_saved_query(conn: Conn, *, org: str, name: str) -> None:
    rows(
        conn,
        "SELECT catalog.delete_query(p_org => %(org)s, p_name => %(name)s)",
        {"org": org, "name": name},
    )
