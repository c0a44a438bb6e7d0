"""Orgs, users, memberships and grants: thin calls of the stored functions in
sql/core/30_tenancy.sql, which hold every rule (validation, uniqueness, the login role, the
audit row)."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chainlake.db import call

Conn = psycopg.Connection[Any]


def create_org(conn: Conn, name: str, display_name: str | None = None) -> dict[str, Any]:
    return call(
        conn,
        "SELECT * FROM core.create_org(%(name)s, %(display)s)",
        {"name": name, "display": display_name},
    )[0]


def list_orgs(conn: Conn) -> list[dict[str, Any]]:
    return call(
        conn,
        "SELECT o.name, o.display_name, o.created_at, count(m.user_id) AS members "
        "FROM core.orgs o LEFT JOIN core.memberships m ON m.org_id = o.id "
        "GROUP BY o.id ORDER BY o.name",
    )


def create_user(conn: Conn, email: str, org: str, role: str) -> dict[str, Any]:
    return call(
        conn,
        "SELECT * FROM core.create_user(%(email)s, %(org)s, %(role)s)",
        {"email": email, "org": org, "role": role},
    )[0]


def add_member(conn: Conn, email: str, org: str, role: str) -> dict[str, Any]:
    return call(
        conn,
        "SELECT * FROM core.add_member(%(email)s, %(org)s, %(role)s)",
        {"email": email, "org": org, "role": role},
    )[0]


def list_users(conn: Conn, org: str | None = None) -> list[dict[str, Any]]:
    return call(
        conn,
        "SELECT u.email, o.name AS org, m.role, u.created_at FROM core.users u "
        "JOIN core.memberships m ON m.user_id = u.id JOIN core.orgs o ON o.id = m.org_id "
        "WHERE (%(org)s::text IS NULL OR o.name = %(org)s) ORDER BY o.name, u.email",
        {"org": org},
    )


def grant_org_read(conn: Conn, from_org: str, to_org: str) -> None:
    call(conn, "SELECT core.grant_org_read(%(f)s, %(t)s)", {"f": from_org, "t": to_org})


def revoke_org_read(conn: Conn, from_org: str, to_org: str) -> None:
    call(conn, "SELECT core.revoke_org_read(%(f)s, %(t)s)", {"f": from_org, "t": to_org})


def user_by_email(conn: Conn, email: str) -> dict[str, Any]:
    return call(conn, "SELECT * FROM core.user_by_email(%(email)s)", {"email": email})[0]


def user_connection_url(conn: Conn, admin_url: str, email: str, via_socket: bool) -> str:
    """A libpq connection string that logs in as the user's own RLS-scoped role.

    Over the embedded cluster's socket (trust auth, owner-only directory) no password is needed.
    Elsewhere the user's role gets a fresh random password valid for two minutes.
    """
    user = user_by_email(conn, email)
    params = {k: v for k, v in conninfo_to_dict(admin_url).items() if v is not None}
    params["user"] = user["db_role"]
    params.pop("password", None)
    if not via_socket:
        params["password"] = secrets.token_urlsafe(24)
        call(
            conn,
            "SELECT core.set_login_password(%(role)s, %(pw)s, interval '2 minutes')",
            {"role": user["db_role"], "pw": params["password"]},
        )
    return make_conninfo("", **params)
