"""The domain layer: one thin function per user operation, a module per domain.

Each operation takes a psycopg connection that already acts as the user (their RLS-scoped login
role, the API's per-request claims, or the operator), then keyword-only arguments; it calls its
stored function with named arguments and returns JSON-able data, so that the CLI prints the same
thing whether it ran the operation here or through the API (`chainlake.client.Client` has a
method of the same name and the same keyword arguments for each). The CLI (`chainlake.cli`) and
the API (`api/`) call these functions; neither holds SQL of its own.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from typing import Any

import psycopg

from chainlake.db import call
from chainlake.errors import NotFound

__all__ = ["one", "rows", "to_json"]


def to_json(value: Any) -> Any:
    """A value from Postgres as JSON: times as ISO 8601, UUIDs and decimals as strings, bytes as
    0x-hex; dicts and lists converted throughout."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    return str(value)


def rows(
    conn: psycopg.Connection[Any], sql: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One statement's rows as JSON-able dicts (errors translated as chainlake.db.call does)."""
    return [to_json(r) for r in call(conn, sql, params)]


def one(
    conn: psycopg.Connection[Any],
    sql: str,
    params: Mapping[str, Any] | None = None,
    missing: str = "not found",
) -> dict[str, Any]:
    """The statement's one row, or NotFound(missing)."""
    found = rows(conn, sql, params)
    if not found:
        raise NotFound(missing)
    return found[0]
