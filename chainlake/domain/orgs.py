"""Orgs, users and memberships (the operator's operations), and `whoami` (any signed-in user).
The rules (validation, uniqueness, the login role, the audit row) live in the stored functions of
sql/30_tenancy.sql; these are their one calls in Python."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from chainlake.domain import one, rows

Conn = psycopg.Connection[Any]

LIST_ORGS = (
    "SELECT o.name, o.display_name, o.created_at, count(m.user_id) AS members "
    "FROM core.orgs o LEFT JOIN core.memberships m ON m.org_id = o.id GROUP BY o.id ORDER BY o.name"
)
LIST_USERS = (
    "SELECT u.email, o.name AS org, m.role, u.created_at FROM core.users u "
    "JOIN core.memberships m ON m.user_id = u.id JOIN core.orgs o ON o.id = m.org_id "
    "WHERE (%(org)s::text IS NULL OR o.name = %(org)s) ORDER BY o.name, u.email"
)


def create_org(conn: Conn, *, name: str, display_name: str | None = None) -> dict[str, Any]:
    sql = "SELECT * FROM core.create_org(p_name => %(name)s, p_display_name => %(display)s)"
    return one(conn, sql, {"name": name, "display": display_name})


def list_orgs(conn: Conn) -> list[dict[str, Any]]:
    """Every org the connection sees, with its member count."""
    return rows(conn, LIST_ORGS)


def create_user(conn: Conn, *, email: str, org: str, role: str) -> dict[str, Any]:
    sql = (
        "SELECT * FROM core.create_user(p_email => %(email)s, p_org => %(org)s, p_role => %(role)s)"
    )
    return one(conn, sql, {"email": email, "org": org, "role": role})


def add_member(conn: Conn, *, email: str, org: str, role: str) -> dict[str, Any]:
    sql = (
        "SELECT * FROM core.add_member(p_email => %(email)s, p_org => %(org)s, p_role => %(role)s)"
    )
    return one(conn, sql, {"email": email, "org": org, "role": role})


def list_users(conn: Conn, *, org: str | None = None) -> list[dict[str, Any]]:
    """Users and their memberships (one row each), optionally of one org."""
    return rows(conn, LIST_USERS, {"org": org})


def grant_org_read(conn: Conn, *, from_org: str, to_org: str) -> None:
    rows(
        conn,
        "SELECT core.grant_org_read(p_from => %(f)s, p_to => %(t)s)",
        {"f": from_org, "t": to_org},
    )


def revoke_org_read(conn: Conn, *, from_org: str, to_org: str) -> None:
    sql = "SELECT core.revoke_org_read(p_from => %(f)s, p_to => %(t)s)"
    rows(conn, sql, {"f": from_org, "t": to_org})


def user_by_email(conn: Conn, *, email: str) -> dict[str, Any]:
    return one(conn, "SELECT * FROM core.user_by_email(p_email => %(email)s)", {"email": email})


def whoami(conn: Conn) -> dict[str, Any]:
    """The caller: a membership per org with its role (user id and e-mail on each)."""
    return {"memberships": rows(conn, "SELECT * FROM core.whoami()")}


def set_login_password(
    conn: Conn, *, role: str, password: str, valid_for: str | None = None
) -> None:
    """A password for a login role (a user's, or a platform service's), valid for `valid_for`
    (an interval, e.g. '2 minutes'; None: until changed)."""
    sql = (
        "SELECT core.set_login_password("
        "p_role => %(role)s, p_password => %(pw)s, p_valid_for => %(valid)s::interval)"
    )
    rows(conn, sql, {"role": role, "pw": password, "valid": valid_for})


# -- signing in (the API's, on each request) ---------------------------------------------------
def oidc_identity(
    conn: Conn, *, email: str, org_roles: dict[str, str] | None
) -> dict[str, Any] | None:
    """The claims of the chainlake user an OIDC provider's e-mail names (its org roles, if the
    provider says them, applied first), or None when there is no such user."""
    sql = "SELECT core.oidc_identity(p_email => %(email)s, p_org_roles => %(roles)s) AS claims"
    roles = Jsonb(org_roles) if org_roles is not None else None
    claims: dict[str, Any] | None = one(conn, sql, {"email": email, "roles": roles})["claims"]
    return claims


def sign_in(
    conn: Conn, *, token_sha256: bytes, issuer: str, expires_at: datetime, detail: dict[str, Any]
) -> dict[str, Any]:
    """Note the request's token (`sign_in`: 'new' on its first request, 'unknown' when its user
    does not exist or is disabled), charge the request to the caller's rate limit (429 over it,
    nothing done), and the orgs the caller is a member of."""
    sql = (
        "SELECT core.note_sign_in(p_token_sha256 => %(sha)s, p_issuer => %(issuer)s,"
        " p_expires_at => %(exp)s, p_detail => %(detail)s) AS sign_in,"
        " core.charge_api_request(), core.caller_org_ids('member') AS orgs"
    )
    values = {"sha": token_sha256, "issuer": issuer, "exp": expires_at, "detail": Jsonb(detail)}
    return one(conn, sql, values)
