"""Usage and cost per org: CPU seconds and peak memory of the attempts, bytes written to
datasets, seconds and bytes of the queries, summed per org and UTC day by `runs.usage` (the one
place the rule lives; a member reads their orgs' usage only). Shared by `chainlake usage` and
GET /v1/usage."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import rows

Conn = psycopg.Connection[Any]


def usage(conn: Conn, *, org: str | None = None, days: int = 7) -> list[dict[str, Any]]:
    """One row per org and day (newest first) over the last `days` days, today included."""
    return rows(
        conn,
        "SELECT * FROM runs.usage(p_org => %(org)s, p_days => %(days)s)",
        {"org": org, "days": days},
    )
