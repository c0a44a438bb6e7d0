"""M5: no login role opens connections without bound (SECURITY.md item 23).

A reader's login role opened 190 connections (no CONNECTION LIMIT) and acme's users could no
longer connect. Now each user's login role has a limit (the most generous of their orgs'
sql_connections_per_user quota, 10 by default), set when the user is created and whenever the
operator changes the quota."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from tests.runtime import scalar
from tests.tenants import Tenants

DEFAULT_LIMIT = 10


def test_a_readers_connections_stop_at_the_limit_and_others_still_connect(
    tenants: Tenants,
) -> None:
    evil = tenants.login_url(tenants.user("b", "reader"))
    with ExitStack() as held:
        for _ in range(DEFAULT_LIMIT):
            held.enter_context(psycopg.connect(evil))
        with pytest.raises(psycopg.OperationalError, match="too many connections"):
            psycopg.connect(evil).close()
        with tenants.login(tenants.user("a", "reader")) as conn:
            assert scalar(conn, "SELECT 1") == 1


def test_the_operators_quota_sets_the_limit_of_the_orgs_users(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    admin.execute(
        "UPDATE core.quotas SET sql_connections_per_user = 2 WHERE org_id = %s",
        (tenants.org_ids["b"],),
    )
    limits = dict(
        admin.execute(
            "SELECT u.email, r.rolconnlimit FROM core.users u "
            "JOIN pg_roles r ON r.rolname = u.db_role WHERE u.email LIKE '%%@_.example'"
        ).fetchall()
    )
    assert limits["writer@b.example"] == 2
    assert limits["writer@a.example"] == DEFAULT_LIMIT
    created = admin.execute(
        "SELECT db_role FROM core.create_user('new@b.example', 'b', 'reader')"
    ).fetchone()
    assert created is not None
    assert scalar(admin, "SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", created[0]) == 2
