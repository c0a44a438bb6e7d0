"""The egress allow-list (the operator's): where outbound calls made on a tenant's behalf may
go besides public addresses (sql/91_egress.sql, docs/alerts.md)."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import rows

Conn = psycopg.Connection[Any]


def egress_policy(conn: Conn) -> list[dict[str, Any]]:
    """Every rule in force: refused ranges, the allow-list, the platform's own addresses."""
    return rows(conn, "SELECT rule, host, port, note FROM core.egress_policy()")


def list_egress(conn: Conn) -> list[dict[str, Any]]:
    """What is allowed, and the platform's own services (never reached)."""
    return [r for r in egress_policy(conn) if r["rule"] != "refused"]


def allow_egress(conn: Conn, *, address: str, note: str = "operator") -> dict[str, Any]:
    """Allow exactly `address` (host:port)."""
    sql = "SELECT core.allow_egress(p_address => %(address)s, p_note => %(note)s)"
    rows(conn, sql, {"address": address, "note": note})
    return {"address": address, "note": note}


def forget_egress(conn: Conn, *, address: str) -> dict[str, Any]:
    """Remove `address` (host:port) from the allow-list; `removed` says whether it was there."""
    sql = "SELECT core.forget_egress(p_address => %(address)s) AS removed"
    return {
        "address": address,
        "removed": bool(rows(conn, sql, {"address": address})[0]["removed"]),
    }
