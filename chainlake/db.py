"""Connections, and the per-request identity of the API's JWT-claims path.

The API and the runners connect as their platform roles. A request on behalf of a user is one
transaction that first runs `SET LOCAL ROLE chainlake_authenticated` and puts the verified claims
in `request.jwt.claims` with `set_config(..., true)`, as PostgREST does; both vanish at commit or
rollback, so nothing carries over to the next request on a pooled connection. Postgres trusts the
claims only on the platform roles' own sessions (see `sql/core/10_core.sql`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg.rows import dict_row

from chainlake import tracecontext
from chainlake.errors import ChainlakeError, translate

AUTHENTICATED_ROLE = "chainlake_authenticated"
API_ROLE = "chainlake_api"
RUNNER_ROLE = "chainlake_runner"
USERS_ROLE = "chainlake_users"
INGEST_ROLE = "chainlake_ingest"
ALERTS_ROLE = "chainlake_alerts"
PLATFORM_ROLES = (API_ROLE, RUNNER_ROLE, INGEST_ROLE, ALERTS_ROLE)


def connect(url: str, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a connection, turning a refused connection into a clear error."""
    try:
        return psycopg.connect(url, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        raise ChainlakeError(
            f"cannot connect to Postgres: {str(exc).strip().splitlines()[0]}",
            "is the stack running? `make up` starts it; `chainlake status` shows it",
        ) from exc


@contextmanager
def claims_transaction(
    conn: psycopg.Connection[Any], claims: Mapping[str, Any]
) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    """One transaction under the identity in `claims` (the API's path). Yields a dict cursor."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # SET LOCAL ROLE, the claims and the request's trace id (the trace_id of the runs it
        # queues, migrations 0028) in one round trip (set_config('role') is SET ROLE)
        cur.execute(
            "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
            " set_config('chainlake.trace_id', %s, true)",
            (AUTHENTICATED_ROLE, json.dumps(claims), tracecontext.current() or ""),
        )
        yield cur


@contextmanager
def runner_transaction(
    conn: psycopg.Connection[Any], org_id: str
) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    """One transaction of a runner acting for one org (the runner's own session only)."""
    claims = {"platform": "runner", "org_id": org_id}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        yield cur


def call(
    conn: psycopg.Connection[Any], sql: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run one statement (usually a stored function call) and return its rows as dicts.

    Driver errors come back as ChainlakeError subclasses with Postgres' own message and hint.
    """
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    except psycopg.Error as exc:
        if not conn.autocommit:  # inside a transaction block, leaving the block rolls back
            with suppress(psycopg.ProgrammingError):
                conn.rollback()
        raise translate(exc) from exc
