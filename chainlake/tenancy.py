"""Orgs, users, memberships and grants for the library's own callers (tests, the demo, the
benchmarks): positional shorthands of the domain operations (chainlake.domain.orgs), and the
connection string of a user's own login role (the local CLI's `--as`)."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chainlake.domain import orgs

Conn = psycopg.Connection[Any]


def create_org(conn: Conn, name: str, display_name: str | None = None) -> dict[str, Any]:
    return orgs.create_org(conn, name=name, display_name=display_name)


def list_orgs(conn: Conn) -> list[dict[str, Any]]:
    return orgs.list_orgs(conn)


def create_user(conn: Conn, email: str, org: str, role: str) -> dict[str, Any]:
    return orgs.create_user(conn, email=email, org=org, role=role)


def add_member(conn: Conn, email: str, org: str, role: str) -> dict[str, Any]:
    return orgs.add_member(conn, email=email, org=org, role=role)


def list_users(conn: Conn, org: str | None = None) -> list[dict[str, Any]]:
    return orgs.list_users(conn, org=org)


def grant_org_read(conn: Conn, from_org: str, to_org: str) -> None:
    orgs.grant_org_read(conn, from_org=from_org, to_org=to_org)


def revoke_org_read(conn: Conn, from_org: str, to_org: str) -> None:
    orgs.revoke_org_read(conn, from_org=from_org, to_org=to_org)


def user_by_email(conn: Conn, email: str) -> dict[str, Any]:
    return orgs.user_by_email(conn, email=email)


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
        password = secrets.token_urlsafe(24)
        orgs.set_login_password(
            conn, role=user["db_role"], password=password, valid_for="2 minutes"
        )
        params["password"] = password
    return make_conninfo("", **params)
