"""SECURITY.md items not covered elsewhere: cached plans across identities (item 8), a pool of
two under thousands of interleaved identities (item 9), a NOTICE-raising function in a WHERE
(item 6), and the policies' plan shape (item 11)."""

from __future__ import annotations

import random
import re
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from chainlake.db import claims_transaction
from tests.tenants import Tenants

DATASET_ORGS = "SELECT DISTINCT org_id::text FROM catalog.datasets WHERE name <> %s"


def _readable(tenants: Tenants, org: str) -> set[str]:
    """What a member of `org` may read: its own rows, and a's when a granted it (org c)."""
    return {tenants.org_ids[org]} | ({tenants.org_ids["a"]} if org == "c" else set())


def test_a_prepared_statement_reused_across_identities_answers_for_each(
    tenants: Tenants,
) -> None:
    """One API connection runs the same server-side prepared query for a's reader, then b's,
    past the point where Postgres switches to a cached generic plan (item 8)."""
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    users = [tenants.user(org, "reader") for org in ("a", "b", "c")]
    with psycopg.connect(url) as conn:
        for turn in range(12):  # a generic plan is cached after 5 executions
            for user in users:
                with claims_transaction(conn, {"sub": user.id}) as cur:
                    rows = cur.execute(DATASET_ORGS, (f"none-{turn}",), prepare=True).fetchall()
                assert {r["org_id"] for r in rows} <= _readable(tenants, user.org), (turn, user)
                assert tenants.org_ids[user.org] in {r["org_id"] for r in rows}
        prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert prepared is not None and prepared[0] >= 1  # the statement really was prepared


def test_a_pool_of_two_under_interleaved_identities_never_mixes_them(tenants: Tenants) -> None:
    """Thousands of requests for random identities on two pooled connections (item 9)."""
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    users = [tenants.user(org, role) for org in ("a", "b", "c") for role in ("reader", "admin")]
    chooser = random.Random(8)
    with ConnectionPool(url, min_size=2, max_size=2) as pool:
        for _ in range(2000):
            user = chooser.choice(users)
            with pool.connection() as conn, claims_transaction(conn, {"sub": user.id}) as cur:
                rows = cur.execute(DATASET_ORGS, ("",)).fetchall()
            assert {r["org_id"] for r in rows} <= _readable(tenants, user.org), user


def test_a_notice_raising_function_in_a_where_sees_no_other_orgs_values(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """Policies filter before a user's own function sees a row (item 6): b's reader defines a
    function that raises a NOTICE with every value it is given, and filters a's table with it."""
    notices: list[str] = []
    with tenants.login(tenants.user("b", "reader")) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(
            "CREATE FUNCTION pg_temp.peek(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 "
            "AS $$ BEGIN RAISE NOTICE 'saw %', v; RETURN true; END $$"
        )
        names = conn.execute("SELECT name FROM catalog.datasets WHERE pg_temp.peek(name)")
        seen = {r[0] for r in names.fetchall()}

    def names_of(org: str) -> set[str]:
        rows = admin.execute(
            "SELECT name FROM catalog.datasets WHERE org_id = %s", (tenants.org_ids[org],)
        )
        return {r[0] for r in rows}

    of_a, of_b = names_of("a"), names_of("b")
    assert of_a and of_b and not of_a & of_b
    assert seen == of_b
    assert {n.removeprefix("saw ") for n in notices} == of_b  # never a name of a's


def test_policies_run_their_identity_once_and_use_the_org_index(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """The caller's orgs are an InitPlan (once per statement, not per row) and the lookup is an
    index scan whose condition is the caller's orgs, on an index that leads with org_id
    (item 11)."""
    with tenants.api(tenants.user("a", "reader")) as cur:
        cur.execute("SET LOCAL enable_seqscan = off")  # the tables are tiny: ask for the index
        plan = "\n".join(
            r[0] for r in cur.execute("EXPLAIN SELECT * FROM jobs.definitions WHERE name = 'x'")
        )
    assert "InitPlan" in plan and "SubPlan" not in plan, plan
    used = re.search(r"Index (?:Only )?Scan using (\w+)", plan)
    assert used is not None and "org_id = ANY ($0)" in plan, plan
    definition = admin.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'jobs' AND indexname = %s",
        (used.group(1),),
    ).fetchone()
    assert definition is not None and "(org_id," in definition[0], definition


def test_a_token_narrowed_to_other_orgs_reads_nothing_through_grants(tenants: Tenants) -> None:
    """Org a grants org c read access. A token of c's reader that names only org c reads a's
    rows through the grant; one that names another org drops c, and a's rows with it."""
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    reader = tenants.user("c", "reader")
    a, c = tenants.org_ids["a"], tenants.org_ids["c"]
    with psycopg.connect(url) as conn:
        for scope, expected in (({c: "reader"}, {a, c}), ({tenants.org_ids["b"]: "admin"}, set())):
            claims = {"sub": reader.id, "org_roles": scope}
            with claims_transaction(conn, claims) as cur:
                rows = cur.execute(DATASET_ORGS, ("",)).fetchall()
            assert {r["org_id"] for r in rows} == expected, scope
