"""Job secrets: writers set and delete them; members list their names, never their values.
Values are encrypted with the platform key before they reach Postgres (sql/..., jobs.secrets)."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import rows
from chainlake.errors import InvalidInput
from chainlake.secrets import encrypt

Conn = psycopg.Connection[Any]

LIST = (
    "SELECT o.name AS org, s.name, s.updated_at FROM jobs.secrets s "
    "JOIN core.orgs o ON o.id = s.org_id ORDER BY 1, 2"
)


def set_secret(conn: Conn, *, org: str, name: str, value: str, key: bytes) -> dict[str, Any]:
    """Set secret `name` of `org` to `value`, encrypted with the platform `key` (the face's:
    the API's or the local stack's)."""
    if not value:
        raise InvalidInput(f"value: secret {name} needs a value", "give it a non-empty value")
    sql = "SELECT jobs.set_secret(p_org => %(org)s, p_name => %(name)s, p_value_enc => %(enc)s)"
    rows(conn, sql, {"org": org, "name": name, "enc": encrypt(key, value)})
    return {"org": org, "name": name}


def list_secrets(conn: Conn) -> list[dict[str, Any]]:
    """The secrets of the caller's orgs: names and when each was set, never values."""
    return rows(conn, LIST)


def delete_secret(conn: Conn, *, org: str, name: str) -> None:
    sql = "SELECT jobs.delete_secret(p_org => %(org)s, p_name => %(name)s)"
    rows(conn, sql, {"org": org, "name": name})
