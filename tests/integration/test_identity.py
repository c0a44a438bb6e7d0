"""Identity cannot be borrowed: claims, SET ROLE and RESET ROLE on a user's own login change
nothing (SECURITY.md item 10); no or junk context sees nothing and raises nothing (item 13);
revoked facts take effect at once (item 12); private rows stay private (the user level)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chainlake.db import claims_transaction, runner_transaction
from tests.tenants import Tenants


def visible_orgs(cur: psycopg.Cursor[Any]) -> set[str]:
    rows = cur.execute("SELECT DISTINCT org_id AS org_id FROM catalog.datasets").fetchall()
    return {str(r["org_id"] if isinstance(r, dict) else r[0]) for r in rows}


def test_a_login_role_cannot_claim_another_identity(tenants: Tenants) -> None:
    me, victim = tenants.user("a", "reader"), tenants.user("b", "admin")
    forged = json.dumps({"sub": victim.id, "org_id": tenants.org_ids["b"], "platform": "runner"})
    with tenants.login(me) as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('request.jwt.claims', %s, false)", (forged,))
        assert visible_orgs(cur) == {tenants.org_ids["a"]}
        cur.execute(f"SET request.jwt.claims = {psycopg.sql.quote(forged)}")
        assert visible_orgs(cur) == {tenants.org_ids["a"]}
        for role in (
            "chainlake_authenticated",
            "chainlake_api",
            "chainlake_runner",
            victim.db_role,
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute(f'SET ROLE "{role}"')
        cur.execute("SET ROLE chainlake_users")  # allowed, and still only the caller
        assert visible_orgs(cur) == {tenants.org_ids["a"]}
        cur.execute("RESET ROLE")
        assert visible_orgs(cur) == {tenants.org_ids["a"]}
        assert cur.execute("SELECT email FROM core.whoami()").fetchone() == (me.email,)


@pytest.mark.parametrize(
    "claims",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        '{"sub": "not-a-uuid"}',
        '{"sub": null}',
        '{"sub": "00000000-0000-0000-0000-000000000000"}',
        '{"role": "admin"}',
    ],
)
def test_no_or_junk_claims_see_nothing_and_raise_nothing(
    tenants: Tenants, claims: str | None
) -> None:
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    with psycopg.connect(url) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL ROLE chainlake_authenticated")
        if claims is not None:
            cur.execute("SELECT set_config('request.jwt.claims', %s, true)", (claims,))
        for table in (
            "catalog.datasets",
            "core.orgs",
            "core.users",
            "chain.blocks",
            "core.memberships",
            "audit.events",
        ):
            assert cur.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_the_api_role_itself_reads_nothing(tenants: Tenants) -> None:
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM catalog.datasets")


def test_revoked_membership_denies_a_replayed_identity_at_once(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    user = tenants.user("b", "writer")
    with tenants.api(user) as cur:
        assert visible_orgs(cur) == {tenants.org_ids["b"]}
    admin.execute("DELETE FROM core.memberships WHERE user_id = %s", (user.id,))
    with tenants.api(user) as cur:  # the same claims, replayed
        assert visible_orgs(cur) == set()
    with tenants.login(user) as conn, conn.cursor() as cur:
        assert visible_orgs(cur) == set()


def test_revoking_a_grant_takes_effect_on_the_next_request(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    user = tenants.user("c", "reader")
    with tenants.api(user) as cur:
        assert tenants.org_ids["a"] in visible_orgs(cur)
    admin.execute("SELECT core.revoke_org_read('a', 'c')")
    with tenants.api(user) as cur:
        assert visible_orgs(cur) == {tenants.org_ids["c"]}


def test_claims_are_dropped_at_the_end_of_each_request(tenants: Tenants) -> None:
    """A pooled API connection carries nothing from one request to the next (item 9)."""
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    a, b = tenants.user("a", "admin"), tenants.user("b", "admin")
    with psycopg.connect(url) as conn:
        for _ in range(20):
            for user in (a, b):
                with claims_transaction(conn, {"sub": user.id}) as cur:
                    orgs = {
                        str(r["org_id"])
                        for r in cur.execute("SELECT DISTINCT org_id FROM catalog.datasets")
                    }
                assert orgs == {tenants.org_ids[user.org]}
            with conn.transaction():
                assert conn.execute(
                    "SELECT current_user, current_setting('request.jwt.claims', true)"
                ).fetchone() in {("chainlake_api", ""), ("chainlake_api", None)}


def test_private_rows_are_invisible_to_the_rest_of_the_org(tenants: Tenants) -> None:
    owner, colleague = tenants.user("a", "reader"), tenants.user("a", "admin")
    subject = "0x" + "ab" * 20
    with tenants.login(owner) as conn:
        conn.execute(
            "INSERT INTO pii.address_labels (org_id, owner_id, address, label) "
            "VALUES (%s, %s, pii.subject(%s), 'my secret label')",
            (tenants.org_ids["a"], owner.id, subject),
        )
        with pytest.raises(errors.InsufficientPrivilege):  # a reader cannot share with the org
            conn.execute(
                "INSERT INTO pii.address_labels (org_id, owner_id, address, label, visibility)"
                " VALUES (%s, %s, pii.subject(%s), 'shared', 'org')",
                (tenants.org_ids["a"], owner.id, subject),
            )
    seen = "SELECT count(*) FROM pii.labels('a') WHERE label = 'my secret label'"
    for path_user, expected in ((owner, 1), (colleague, 0)):
        with tenants.login(path_user) as conn:
            assert conn.execute(seen).fetchone() == (expected,), path_user.email
        with tenants.api(path_user) as cur:
            assert cur.execute(seen).fetchone() == (expected,), path_user.email
    with tenants.login(colleague) as conn:  # an admin deletes shared rows, not private ones
        gone = conn.execute("SELECT rows FROM pii.delete_subject('a', %s)", (subject,))
        assert gone.fetchone() == (0,)
    with tenants.login(owner) as conn:
        assert conn.execute(seen).fetchone() == (1,)


def test_an_org_may_reuse_another_orgs_natural_key(tenants: Tenants) -> None:
    """Unique keys lead with org_id: b's name does not collide with a's (item 7)."""
    writer = tenants.user("a", "writer")
    with tenants.login(writer) as conn:
        conn.execute(
            "INSERT INTO catalog.datasets (org_id, name) VALUES (%s, 'ds_b_seed')",
            (tenants.org_ids["a"],),
        )


def test_a_security_definer_function_answers_only_for_the_caller(tenants: Tenants) -> None:
    """caller_org_ids takes no ids: b's reader asking gets b's orgs, never a's (item 5)."""
    with tenants.login(tenants.user("b", "reader")) as conn:
        for access in ("member", "read", "write", "admin"):
            row = conn.execute("SELECT core.caller_org_ids(%s)", (access,)).fetchone()
            assert row is not None
            orgs = row[0]
            expected = [] if access in ("write", "admin") else [tenants.org_ids["b"]]
            assert [str(o) for o in orgs] == expected, access
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT core.create_user('x@evil.example', 'a', 'admin')")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT audit.record(%s, 'forged')", (tenants.org_ids["a"],))


def test_global_chain_data_is_read_by_users_and_written_only_by_ingest(tenants: Tenants) -> None:
    with tenants.login(tenants.user("b", "admin")) as conn:
        assert conn.execute("SELECT count(*) FROM chain.blocks").fetchone() == (1,)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DELETE FROM chain.blocks")
    runner = tenants.cluster.url(tenants.database, "chainlake_runner")
    with (
        psycopg.connect(runner, autocommit=True) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM chain.blocks")
    url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO chain.blocks (chain_id, number, hash, parent_hash, timestamp) "
            "VALUES (1, 2, '\\x02', '\\x01', now())"
        )
        assert conn.execute("SELECT count(*) FROM chain.blocks").fetchone() == (2,)


def test_a_runner_acts_for_one_org_per_transaction(tenants: Tenants) -> None:
    url = tenants.cluster.url(tenants.database, "chainlake_runner")
    a, b = tenants.org_ids["a"], tenants.org_ids["b"]
    with psycopg.connect(url) as conn:
        with runner_transaction(conn, b) as cur:
            assert visible_orgs(cur) == {b}
            cur.execute(
                "INSERT INTO runs.runs (org_id, job_name, job_version) VALUES (%s, 'ingest', '1')",
                (b,),
            )
        with pytest.raises(errors.InsufficientPrivilege), runner_transaction(conn, b) as cur:
            cur.execute(
                "INSERT INTO runs.runs (org_id, job_name, job_version) VALUES (%s, 'ingest', '1')",
                (a,),
            )
        with conn.transaction(), conn.cursor() as cur:  # no org claim: no org rows
            assert visible_orgs(cur) == set()
