"""Orgs as a user sees them: who am I, in which orgs, with which role."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import rows


def whoami(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The caller's memberships: user id, e-mail, org and role each (no rows: the operator)."""
    return {"memberships": rows(conn, "SELECT * FROM core.whoami()")}
