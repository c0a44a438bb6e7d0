"""M1: no tenant can hold a lock the platform waits on (SECURITY.md item 23).

Holding acme's run-claim advisory lock (key `'runs.start:' || org id`, the id readable through
`catalog.grantee_org_id('acme')`) stopped every org's runs; the storage and version keys were
as easy. Now no user role may take any advisory lock (the functions are not executable by
PUBLIC; keys seen in pg_locks are useless), and the platform serializes on rows of
core.row_locks, which no user can see or lock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chainlake.db import runner_transaction
from tests.runtime import TEST_JOBS, apply, request_run
from tests.tenants import ROLES, Tenants, User

ADVISORY_CALLS = (
    "pg_advisory_lock(%(key)s)",
    "pg_advisory_lock_shared(%(key)s)",
    "pg_try_advisory_lock(%(key)s)",
    "pg_advisory_xact_lock(%(key)s)",
    "pg_try_advisory_xact_lock(%(key)s)",
    "pg_advisory_lock(%(hi)s, %(lo)s)",
    "pg_try_advisory_xact_lock_shared(%(hi)s, %(lo)s)",
)


def platform_keys(org_id: str, dataset_id: str) -> list[str]:
    """The keys the platform locked on, computed the way the reviewer did."""
    return [
        f"hashtextextended('runs.start:{org_id}', 0)",
        f"hashtextextended('core.storage:{org_id}', 0)",
        f"hashtextextended('catalog.version:{dataset_id}', 0)",
        "x'636C6D67'::bigint",  # the migrator's
    ]


@contextmanager
def cursor(tenants: Tenants, user: User, path: str) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor as `user` on the login or the API path."""
    if path == "login":
        with tenants.login(user) as conn, conn.cursor() as cur:
            yield cur
    else:
        with tenants.api(user) as cur:
            yield cur


@pytest.mark.parametrize("path", ("login", "api"))
def test_no_user_may_take_an_advisory_lock(
    tenants: Tenants, admin: psycopg.Connection[Any], path: str
) -> None:
    org_a = tenants.org_ids["a"]
    dataset = admin.execute(
        "SELECT id::text FROM catalog.datasets WHERE org_id = %s LIMIT 1", (org_a,)
    ).fetchone()
    assert dataset is not None
    for role in ROLES:
        user = tenants.user("b", role)
        for expression in platform_keys(org_a, dataset[0]):
            key = admin.execute(f"SELECT {expression}").fetchone()[0]  # type: ignore[index]
            params = {"key": key, "hi": key >> 32, "lo": key & 0x7FFFFFFF}
            for call in ADVISORY_CALLS:
                with (
                    cursor(tenants, user, path) as cur,
                    pytest.raises(errors.InsufficientPrivilege),
                ):
                    cur.execute(f"SELECT {call}", params)


def test_no_user_may_lock_the_platforms_lock_rows(tenants: Tenants) -> None:
    for role in ROLES:
        with tenants.login(tenants.user("b", role)) as conn:
            for statement in (
                "SELECT * FROM core.row_locks FOR UPDATE",
                "SELECT * FROM core.row_locks FOR KEY SHARE",
                "LOCK TABLE core.row_locks IN ACCESS SHARE MODE",
            ):
                with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                    conn.execute(statement)


def test_acme_claims_its_run_whatever_evil_tries_to_hold(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """Evil's reader tries to hold acme's claim lock; acme's run is claimed regardless, in
    well under the bound a runner's claim is given here (it would wait forever)."""
    org_a = tenants.org_ids["a"]
    apply(tenants, tenants.user("a", "writer"), TEST_JOBS / "behave.yaml")
    run = request_run(tenants, tenants.user("a", "writer"), "behave", {"do": "ok"})
    evil = psycopg.connect(tenants.login_url(tenants.user("b", "reader")), autocommit=True)
    try:
        with contextlib.suppress(errors.InsufficientPrivilege):  # refused: the point
            evil.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"runs.start:{org_a}",)
            )
        url = tenants.cluster.url(tenants.database, "chainlake_runner")
        with psycopg.connect(url) as conn, runner_transaction(conn, org_a) as cur:
            cur.execute("SET LOCAL lock_timeout = '5s'")
            row = cur.execute(
                "SELECT verdict FROM runs.start(%s, 'm1', 30)", (run["id"],)
            ).fetchone()
        assert row == {"verdict": "run"}
    finally:
        evil.close()
