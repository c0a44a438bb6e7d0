"""Tenant isolation, table by table, through both identity paths: a user's own login role
(direct SQL) and the API's JWT-claims path. SECURITY.md items 2, 3, 7 and 13."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.tenants import ORGS, ROLES, SEEDS, Tenants, User, fresh_targets

# login: the user's own login role. api: the API's JWT-claims path. impersonating: the user's
# login role after it set the claims GUC to org a's admin (and the runner's org claim) and ran
# SET ROLE chainlake_users; it must change nothing.
PATHS = ("login", "api", "impersonating")
RANK = {"reader": 0, "writer": 1, "admin": 2}


@contextmanager
def session(tenants: Tenants, user: User, path: str) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor acting as `user`, on one of the two identity paths."""
    if path in ("login", "impersonating"):
        with tenants.login(user) as conn, conn.cursor() as cur:
            if path == "impersonating":
                victim = tenants.user("a", "admin")
                forged = {"sub": victim.id, "platform": "runner", "org_id": tenants.org_ids["a"]}
                cur.execute(
                    "SELECT set_config('request.jwt.claims', %s, false)", (json.dumps(forged),)
                )
                cur.execute("SET ROLE chainlake_users")
            yield cur
    else:
        with tenants.api(user) as cur:
            yield cur


def org_column(table: str) -> str:
    return "id" if table == "core.orgs" else "org_id"


def expected_orgs(tenants: Tenants, table: str, user: User) -> set[str]:
    reads = SEEDS[table].reads
    own = {tenants.org_ids[user.org]}
    if reads == "member":
        return own
    if reads == "admin":
        return own if user.role == "admin" else set()
    granted = {tenants.org_ids["a"]} if user.org == "c" else set()
    return own | granted


def snapshot(admin: psycopg.Connection[Any], table: str) -> str:
    row = admin.execute(
        f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
    ).fetchone()
    assert row is not None
    return str(row[0])


READ_TABLES = [t for t, s in SEEDS.items() if s.reads not in ("grant", "audited")]
AUDITED_TABLES = [t for t, s in SEEDS.items() if s.reads == "audited"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("table", AUDITED_TABLES)
def test_nobody_reads_an_audited_table_directly(
    tenants: Tenants, admin: psycopg.Connection[Any], table: str, path: str
) -> None:
    """PII is read only through its audited functions (tests/integration/test_pii.py)."""
    present = {str(r[0]) for r in admin.execute(f"SELECT DISTINCT org_id FROM {table}")}
    assert {tenants.org_ids[o] for o in ORGS} <= present, f"{table} is not seeded for every org"
    for org in ORGS:
        for role in ROLES:
            user = tenants.user(org, role)
            with pytest.raises(errors.InsufficientPrivilege), session(tenants, user, path) as cur:
                cur.execute(f"SELECT org_id FROM {table}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("table", READ_TABLES)
def test_each_user_reads_exactly_the_orgs_it_may(
    tenants: Tenants, admin: psycopg.Connection[Any], table: str, path: str
) -> None:
    reads_exactly(tenants, admin, table, path)


def reads_exactly(tenants: Tenants, admin: psycopg.Connection[Any], table: str, path: str) -> None:
    """Every role of every org sees exactly the orgs' rows it may (AssertionError otherwise)."""
    col = org_column(table)
    present = {str(r[0]) for r in admin.execute(f"SELECT DISTINCT {col} FROM {table}")}
    assert {tenants.org_ids[o] for o in ORGS} <= present, f"{table} is not seeded for every org"
    for org in ORGS:
        for role in ROLES:
            user = tenants.user(org, role)
            with session(tenants, user, path) as cur:
                seen = {str(r[0]) for r in cur.execute(f"SELECT DISTINCT {col} FROM {table}")}
            assert seen == expected_orgs(tenants, table, user) & present, (table, user.email)


@pytest.mark.parametrize("path", PATHS)
def test_grants_are_seen_by_their_grantor_admins_and_grantee_members(
    tenants: Tenants, path: str
) -> None:
    a, c = tenants.org_ids["a"], tenants.org_ids["c"]
    for org in ORGS:
        for role in ROLES:
            user = tenants.user(org, role)
            with session(tenants, user, path) as cur:
                rows = {
                    (str(g), str(r))
                    for g, r in cur.execute("SELECT org_id, grantee_org_id FROM core.org_grants")
                }
            own = tenants.org_ids[org]
            assert all(g == own or r == own for g, r in rows), (user.email, rows)
            assert ((a, c) in rows) == (org == "c" or (org == "a" and role == "admin"))
            gave = {(g, r) for g, r in rows if g == own}
            assert bool(gave) == (role == "admin"), (user.email, rows)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("table", list(SEEDS))
def test_no_role_of_b_can_touch_or_forge_a_rows(
    tenants: Tenants, admin: psycopg.Connection[Any], table: str, path: str
) -> None:
    col = org_column(table)
    a, b = tenants.org_ids["a"], tenants.org_ids["b"]
    before = snapshot(admin, table)
    for role in ROLES:
        attacker = tenants.user("b", role)
        # INSERT a row that names org a: refused by privilege or by WITH CHECK.
        with pytest.raises(errors.InsufficientPrivilege), session(tenants, attacker, path) as cur:
            cur.execute(SEEDS[table].sql, tenants.params(attacker, "a", f"forged_{role}"))
        # UPDATE and DELETE of a's rows touch nothing.
        for statement in (
            f"UPDATE {table} SET {col} = {col} WHERE {col} = %s",
            f"DELETE FROM {table} WHERE {col} = %s",
        ):
            try:
                with session(tenants, attacker, path) as cur:
                    cur.execute(statement, (a,))
                    assert cur.rowcount == 0, (statement, attacker.email)
            except errors.InsufficientPrivilege:
                pass
        # Moving one of b's own rows into org a: refused outright for the row's author (who
        # may update it), and at most a no-op for everyone else.
        move = f"UPDATE {table} SET {col} = %s WHERE {col} = %s"
        if role == SEEDS[table].writer:
            with pytest.raises(errors.InsufficientPrivilege), session(tenants, attacker, path) as c:
                c.execute(move, (a, b))
        else:
            try:
                with session(tenants, attacker, path) as c:
                    c.execute(move, (a, b))
                    assert c.rowcount == 0, (move, attacker.email)
            except errors.InsufficientPrivilege:
                pass
    assert snapshot(admin, table) == before


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("table", [t for t, s in SEEDS.items() if s.writer in RANK])
def test_roles_write_their_own_org_exactly_as_their_role_allows(
    tenants: Tenants, admin: psycopg.Connection[Any], table: str, path: str
) -> None:
    least = SEEDS[table].writer
    assert least is not None
    for role in ROLES:
        user = tenants.user("b", role)
        tag = f"own_{role}_{path}"
        params = tenants.params(user, "b", tag) | fresh_targets(admin, tag)
        if RANK[role] >= RANK[least]:
            with session(tenants, user, path) as cur:
                cur.execute(SEEDS[table].sql, params)
                assert cur.rowcount == 1
        else:
            with pytest.raises(errors.InsufficientPrivilege), session(tenants, user, path) as cur:
                cur.execute(SEEDS[table].sql, params)


@pytest.mark.parametrize("table", READ_TABLES)
def test_the_suite_notices_a_removed_or_loosened_policy(
    tenants: Tenants, admin: psycopg.Connection[Any], table: str
) -> None:
    """Drop a table's SELECT policies and the suite fails; replace them with one that lets
    everyone read everything and it fails again: it cannot pass by accident."""
    schema, name = table.split(".")
    policies = [
        r[0]
        for r in admin.execute(
            "SELECT policyname FROM pg_policies WHERE schemaname = %s AND tablename = %s "
            "AND cmd IN ('SELECT', 'ALL')",
            (schema, name),
        )
    ]
    assert policies, f"{table} has no SELECT policy to remove"
    for policy in policies:
        admin.execute(f'DROP POLICY "{policy}" ON {table}')
    with pytest.raises(AssertionError):
        reads_exactly(tenants, admin, table, "login")
    admin.execute(f'CREATE POLICY "everyone reads" ON {table} FOR SELECT USING (true)')
    with pytest.raises(AssertionError):
        reads_exactly(tenants, admin, table, "login")
