"""Found by the noisy-neighbour suite (SECURITY.md item 23): an org's admin could lock its own
org's row (`SELECT ... FROM core.orgs ... FOR UPDATE`: admins held UPDATE on display_name), and
every row of every tenant table names its org by a foreign key, whose check takes a KEY SHARE
lock on that row. So each insert for that org waited for the admin's transaction: its firings
and deliveries in ingest's batch transaction (every org's tip lag), its audit events and sign-ins
on the API's pooled connections (the pool ran dry: acme's /v1/whoami took 3 s), its runs' logs
on the runner's pool.

Now no user role may lock the rows every tenant table references (core.orgs, core.users): an
admin renames its org through core.rename_org."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.runtime import scalar
from tests.tenants import ROLES, Tenants

REFERENCED = ("core.orgs", "core.users")  # by every tenant table's foreign keys
LOCKS = ("FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE")


def test_no_user_may_lock_the_rows_every_tenant_table_references(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    for role in ROLES:
        with tenants.login(tenants.user("b", role)) as conn:
            for table in REFERENCED:
                for lock in LOCKS:
                    with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                        conn.execute(f"SELECT 1 FROM {table} {lock}")
    updatable = admin.execute(
        "SELECT t FROM unnest(%s::text[]) t "
        "WHERE has_any_column_privilege('chainlake_users', t, 'UPDATE')",
        (list(REFERENCED),),
    ).fetchall()
    assert updatable == []


def test_every_table_a_foreign_key_references_is_listed(admin: psycopg.Connection[Any]) -> None:
    """Every table a foreign key references is in REFERENCED, or no user may lock its rows
    (chain.chains: the chain's RPC health and check reports name it), or
    (catalog.datasets, whose writers update their datasets) only its own org's rows reference
    it, written in that org's runs only: a lock there delays its own org's runs."""
    referenced = {
        r[0]
        for r in admin.execute(
            "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
        )
    }
    platform_only = ("chain.blocks", "chain.chains", "pgmq.meta")  # no user may lock their rows
    assert referenced == {*REFERENCED, "catalog.datasets", *platform_only}
    for table in platform_only:
        assert not scalar(
            admin, "SELECT has_any_column_privilege('chainlake_users', %s, 'UPDATE')", table
        )


def test_an_admin_renames_its_org_and_nobody_else_does(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    with tenants.login(tenants.user("b", "admin")) as conn:
        conn.execute("SELECT core.rename_org('b', 'Evil Inc.')")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT core.rename_org('a', 'Owned')")
    with (
        tenants.login(tenants.user("b", "writer")) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT core.rename_org('b', 'Mine')")
    names = dict(admin.execute("SELECT name, display_name FROM core.orgs").fetchall())
    assert names["b"] == "Evil Inc." and names["a"] != "Owned"
