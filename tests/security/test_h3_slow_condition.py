"""H3: one org's slow alert condition froze ingest for every tenant (SECURITY.md item 22).

The attack: a condition of nested `replace(...)` (1,017 characters) passed the cost check and
cost ~1.75 s and ~460 MB a row; conditions run inside each ingest batch's transaction, so ingest
stopped for everyone for over a minute.

Now: growth that compounds (a size-multiplying function inside another) is refused when saved; a
condition is probed over the latest rows when saved and refused if slow; and the complete fix,
a time budget: ingest evaluates all rules at once, then org by org, then rule by rule, each
under its own statement_timeout, and sets aside the rule that exceeds its budget, while every
other rule keeps firing in its block's transaction."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chainlake.alerts.evaluate import Batch, evaluate_batch
from chainlake.chain.ingest import LiveIngest
from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from tests.chainkit import chain_config, node_head, stored_tip
from tests.tenants import Tenants

RULE = "INSERT INTO alerts.rules (org_id, name, dataset, condition) VALUES (%s, %s, %s, %s)"
# The reproduced attack: ~1.5 s and ~72 MB a block row (the review's variant took 460 MB).
H3_CONDITION = (
    "length(replace(replace(replace(encode(hash, 'hex') || '"
    + "0" * 400
    + "', '0', '"
    + "x" * 300
    + "'), 'x', '"
    + "y" * 300
    + "'), 'y', 'zz')) > 0"
)
SET_ASIDE = (
    r"took more than \d+ ms on one batch of \d+ block\(s\); fix the condition and save it again"
)
# Slow without any size-multiplying function: products of 65,000-digit numbers, ~0.5 s a row.
SLOW_CONDITION = " OR ".join(
    f"(1e65000 / 7 + number) * (1e65000 / 7 + number) < {i}" for i in range(10)
)


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    with Anvil(free_port(), block_time=None) as node:
        yield node


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        (H3_CONDITION, "replace(text,text,text) inside replace(text,text,text)"),
        (  # each encode doubles
            "encode(decode(encode(decode(encode(hash, 'hex'), 'escape'), 'hex'), 'escape'), "
            "'hex') <> ''",
            "encode(bytea,text) inside encode(bytea,text)",
        ),
        ("regexp_replace(replace(encode(hash, 'hex'), '0', 'ab'), 'a', 'bb') <> ''", "inside"),
        ("format('%1000000000s', number) <> ''", "may not call format"),
    ],
)
def test_compounding_growth_is_refused_when_saved(
    tenants: Tenants, condition: str, says: str
) -> None:
    with (
        tenants.login(tenants.user("b", "writer")) as conn,
        pytest.raises(errors.InvalidParameterValue) as refused,
    ):
        conn.execute(RULE, (tenants.org_ids["b"], "bomb", "chain.blocks", condition))
    assert says in str(refused.value), str(refused.value)
    assert "its cost" in (refused.value.diag.message_hint or "")


def test_growth_that_does_not_compound_is_still_allowed(tenants: Tenants) -> None:
    with tenants.login(tenants.user("b", "writer")) as conn:
        for i, condition in enumerate(
            [
                "replace(encode(hash, 'hex'), 'a', 'b') <> encode(parent_hash, 'hex')",
                "lower(encode(miner, 'hex')) LIKE 'f39f%' AND upper(encode(hash, 'hex')) <> ''",
                "replace(encode(hash, 'hex'), 'a', 'b') = replace(encode(miner, 'hex'), 'c', 'd')",
                "encode(decode(encode(hash, 'hex'), 'escape'), 'base64') <> ''",
            ]
        ):
            conn.execute(RULE, (tenants.org_ids["b"], f"ok{i}", "chain.blocks", condition))


def test_a_condition_slow_on_the_latest_rows_is_refused_when_saved(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    admin.execute(
        "INSERT INTO chain.blocks (chain_id, number, hash, parent_hash, timestamp) "
        "SELECT 1, n, decode(lpad(to_hex(n), 64, '0'), 'hex'), '\\x00', now() "
        "FROM generate_series(2, 5) n"
    )
    budget = admin.execute("SELECT alerts.time_budget_ms('probe')").fetchone()
    assert budget is not None
    with tenants.login(tenants.user("b", "writer")) as conn:
        with pytest.raises(errors.InvalidParameterValue) as refused:
            conn.execute(RULE, (tenants.org_ids["b"], "slow", "chain.blocks", SLOW_CONDITION))
        assert f"at most {budget[0]} ms" in str(refused.value), str(refused.value)
        assert "latest" in str(refused.value)
        stored = conn.execute("SELECT count(*) FROM alerts.rules WHERE name = 'slow'").fetchone()
    assert stored == (0,)


def _catch_up(ingest: LiveIngest) -> None:
    for _ in range(100):
        if not ingest.step():
            return


def _firings(admin: psycopg.Connection[Any], org: str, rule: str) -> set[int]:
    return {
        r[0]
        for r in admin.execute(
            "SELECT f.to_block FROM alerts.firings f JOIN alerts.rules r ON r.id = f.rule_id "
            "WHERE f.org_id = %s AND r.name = %s",
            (org, rule),
        )
    }


def test_a_slow_rule_is_set_aside_while_every_other_rule_fires_and_ingest_advances(
    tenants: Tenants, admin: psycopg.Connection[Any], anvil: Anvil
) -> None:
    org_a, org_b = tenants.org_ids["a"], tenants.org_ids["b"]
    admin.execute("UPDATE alerts.rules SET enabled = false")  # the tenants' seed rules
    admin.execute("DELETE FROM chain.blocks")  # no rows yet: the probe at save finds nothing
    with tenants.login(tenants.user("a", "writer")) as acme:
        acme.execute(RULE, (org_a, "every-block", "chain.blocks", "number >= 0"))
    with tenants.login(tenants.user("b", "writer")) as evil:
        evil.execute(RULE, (org_b, "slow", "chain.blocks", SLOW_CONDITION))
        evil.execute(RULE, (org_b, "fine", "chain.blocks", "number >= 0"))
    # the H3 rule as a database from before this fix holds it (stored past today's check)
    admin.execute("ALTER TABLE alerts.rules DISABLE TRIGGER rules_checked")
    admin.execute(
        "INSERT INTO alerts.rules (org_id, name, dataset, condition, predicate) "
        "VALUES (%s, 'h3', 'chain.blocks', %s, %s)",
        (org_b, H3_CONDITION, H3_CONDITION),
    )
    admin.execute("ALTER TABLE alerts.rules ENABLE TRIGGER rules_checked")

    rpc = RpcClient([anvil.url])
    ingest_url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    ingest = LiveIngest(chain_config(anvil.url), ingest_url, log=lambda _m: None)
    started = time.monotonic()
    try:
        ingest.prepare()
        rpc.call("anvil_mine", ["0x3"])
        _catch_up(ingest)
        aside = dict(
            admin.execute(
                "SELECT name, last_error FROM alerts.rules WHERE last_error IS NOT NULL"
            ).fetchall()
        )
        assert set(aside) == {"slow", "h3"}, aside
        said = aside["slow"]
        assert re.fullmatch(SET_ASIDE, said) and aside["h3"] == said, said
        for _ in range(3):  # later batches: the rules set aside are no longer evaluated
            rpc.call("anvil_mine", ["0x2"])
            _catch_up(ingest)
    finally:
        ingest.close()
    assert time.monotonic() - started < 120, "ingest did not hang"
    tip = stored_tip(admin, 31337)
    assert tip == node_head(rpc) == 9, "ingest kept up with the node"
    every_block = set(range(tip + 1))
    assert _firings(admin, org_a, "every-block") == every_block, "acme's rule fired every block"
    assert _firings(admin, org_b, "fine") == every_block, "evil's other rule is not punished"
    assert _firings(admin, org_b, "slow") == _firings(admin, org_b, "h3") == set()
    with tenants.login(tenants.user("b", "writer")) as evil:
        # saved again, the slow condition now meets the probe over the latest rows
        with pytest.raises(errors.InvalidParameterValue, match="latest"):
            evil.execute(
                "UPDATE alerts.rules SET condition = condition || ' OR false' WHERE name = 'slow'"
            )
        shown = evil.execute("SELECT last_error FROM alerts.rules WHERE name = 'slow'").fetchone()
    assert shown == (said,), "the rule's writers see why it was set aside"


def test_an_org_whose_rules_each_fit_but_together_run_out_loses_its_slowest_rule(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """Several rules each under the rule budget would keep their org over its budget at every
    batch; the slowest is set aside, and the others (and the transaction's settings) stay."""
    org_c = tenants.org_ids["c"]
    admin.execute("UPDATE alerts.rules SET enabled = false")
    admin.execute("DELETE FROM chain.blocks")
    heavy = " AND ".join(["(1e65000 / 7 + number) * (1e65000 / 7 + number) > 0"] * 4)
    with tenants.login(tenants.user("c", "writer")) as conn:
        for name in ("heavy1", "heavy2", "heavy3"):
            conn.execute(RULE, (org_c, name, "chain.blocks", heavy))
        conn.execute(RULE, (org_c, "light", "chain.blocks", "number >= 0"))
    admin.execute(
        "INSERT INTO chain.blocks (chain_id, number, hash, parent_hash, timestamp) "
        "VALUES (1, 1, '\\x01', '\\x00', now())"
    )
    # budgets for this database only: one rule has plenty, the org (each ~0.2 s) too little
    admin.execute(
        "CREATE OR REPLACE FUNCTION alerts.time_budget_ms(p_scope text, p_blocks bigint "
        "DEFAULT 1) RETURNS integer LANGUAGE sql IMMUTABLE SET search_path = '' AS "
        "$$ SELECT CASE p_scope WHEN 'rule' THEN 20000 ELSE 300 END $$"
    )
    url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    with psycopg.connect(url, autocommit=True) as ingest:
        ingest.execute("SET statement_timeout = '7s'")
        with ingest.transaction():
            fired = evaluate_batch(ingest, Batch(1, 1, 1, None, None))
            kept = ingest.execute("SELECT current_setting('statement_timeout')").fetchone()
    assert kept == ("7s",), "the batch's own statements keep their settings"
    assert fired == 4
    aside = admin.execute(
        "SELECT name, last_error FROM alerts.rules WHERE last_error IS NOT NULL"
    ).fetchall()
    assert len(aside) == 1 and aside[0][0].startswith("heavy"), aside
    assert "the most of its org's rules" in aside[0][1], aside
