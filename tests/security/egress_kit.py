"""Helpers of the egress tests (test_m6_ssrf, test_egress_allow_list, test_h5_*): the operator's
allow-list and platform addresses, rows stored as if before the save-time rule, finished runs
and their log lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.runtime import wait_for


def allow(admin: psycopg.Connection[Any], *addresses: str) -> None:
    """The operator allows exactly these host:port (loopback receivers of the tests)."""
    for address in addresses:
        admin.execute("SELECT core.allow_egress(%s, 'tests')", (address,))


def platform(admin: psycopg.Connection[Any], *addresses: str) -> None:
    """Register these host:port as the platform's own services (a stand-in for one)."""
    admin.execute("SELECT core.set_egress_addresses('platform', 'tests', %s)", (list(addresses),))


@contextmanager
def before_the_rule(admin: psycopg.Connection[Any], table: str, trigger: str) -> Iterator[None]:
    """Rows written here skip the save-time egress check, as rows stored before it existed (or
    a name whose address changed since): what only the check at use time can catch."""
    admin.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    try:
        yield
    finally:
        admin.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def finished(admin: psycopg.Connection[Any], run_id: str, timeout: float = 120) -> dict[str, Any]:
    """The run once it succeeded or died."""

    def done() -> dict[str, Any] | None:
        with admin.cursor(row_factory=dict_row) as cur:
            row = cur.execute("SELECT * FROM runs.runs WHERE id = %s", (run_id,)).fetchone()
        return row if row and row["status"] in ("succeeded", "dead") else None

    return wait_for(done, timeout=timeout, every=0.2)


def log_messages(admin: psycopg.Connection[Any], run_id: str) -> list[str]:
    """Every log message of the run, in order."""
    return [
        str(r[0])
        for r in admin.execute(
            "SELECT event ->> 'message' FROM runs.logs WHERE run_id = %s "
            "AND event ->> 'type' = 'log' ORDER BY seq",
            (run_id,),
        )
    ]
