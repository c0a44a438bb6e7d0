"""Queries: SQL (DuckDB) over the chain views and the datasets the caller may read. The engine is
chainlake.query (its sessions open as the caller); what the domain adds is the audit of what a
query read and the parameters of a saved query run."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from chainlake.domain import rows
from chainlake.errors import InvalidInput
from chainlake.query import datasets_named

Conn = psycopg.Connection[Any]


def record_query(conn: Conn, *, sql: str, format: str, saved: dict[str, str]) -> None:
    """A `data.query` audit event in each org whose datasets the SQL read, also through saved
    queries' views (`saved`: their SQL by name)."""
    named = datasets_named(sql, saved)
    detail = {"sql": sql[:2000], "format": format, "datasets": [f"{o}.{n}" for o, n in named]}
    orgs = sorted({org for org, _ in named})
    sql_call = "SELECT audit.record_query(p_orgs => %(orgs)s, p_detail => %(detail)s)"
    rows(conn, sql_call, {"orgs": orgs, "detail": Jsonb(detail)})


def record_query_usage(
    conn: Conn,
    *,
    sql: str,
    saved: dict[str, str],
    seconds: float,
    row_count: int | None,
    result_bytes: int,
) -> None:
    """What a query cost, charged to one of the caller's orgs (catalog.record_query_usage says
    which): its seconds, rows (None: streamed) and the bytes of its answer. DuckDB reports no
    bytes scanned for a locked session, so bytes_scanned stays NULL."""
    orgs = sorted({org for org, _ in datasets_named(sql, saved)})
    call = (
        "SELECT catalog.record_query_usage(p_orgs => %(orgs)s, p_seconds => %(seconds)s, "
        "p_rows => %(rows)s, p_bytes_scanned => NULL, p_result_bytes => %(sent)s)"
    )
    params = {"orgs": orgs, "seconds": seconds, "rows": row_count, "sent": result_bytes}
    rows(conn, call, params)


def saved_query_params(saved: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """A saved query's parameters for one run: its defaults, overridden by `given`; each needs a
    value (InvalidInput naming those that have none)."""
    params = {**(saved.get("params") or {}), **(given or {})}
    missing = sorted(k for k, v in params.items() if v is None)
    if missing:
        raise InvalidInput(f"parameter(s) {', '.join(missing)} need a value", "give each a value")
    return params
