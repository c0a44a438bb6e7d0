"""Found by the noisy-neighbour suite (SECURITY.md item 22): a rule its writer holds locked was
never set aside. `alerts.set_aside` skipped a locked rule ("they are changing it anyway"), so a
writer who kept its slow rule FOR UPDATE in an open transaction (its own timeouts turned off,
until the watchdog's bound, then again) made every ingest batch run out the batch's, the org's
and the rule's time budgets: ingest fell further behind with every block, for every org (acme's
tip lag and alerts 10-20 s late within 20 s).

Now a rule that runs out while locked is set aside all the same, in a table no tenant can lock
(alerts.held_aside, for the version of the rule that ran out); its last_error follows once its
writer lets go, and saving it again makes it count again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from chainlake.chain.ingest import LiveIngest
from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from tests.chainkit import chain_config, node_head, stored_tip
from tests.runtime import scalar
from tests.security.test_h3_slow_condition import RULE, SET_ASIDE, _firings
from tests.tenants import Tenants

# Admitted when saved (no block from 3 on yet), ~1.5 s a row from block 3 on.
LATER = "CASE WHEN number >= 3 THEN {} ELSE false END".format(
    " OR ".join(f"(1e65000 / 7 + number) * (1e65000 / 7 + number) < {i}" for i in range(30))
)


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    with Anvil(free_port(), block_time=None) as node:
        yield node


def _catch_up(ingest: LiveIngest) -> None:
    for _ in range(100):
        if not ingest.step():
            return


def _active(admin: psycopg.Connection[Any], org: str) -> set[str]:
    return {
        r[0]
        for r in admin.execute(
            "SELECT r.name FROM alerts.rules r WHERE r.id IN (SELECT alerts.active_rules(%s))",
            (org,),
        )
    }


def test_a_rule_its_writer_holds_locked_is_set_aside_all_the_same(
    tenants: Tenants, admin: psycopg.Connection[Any], anvil: Anvil
) -> None:
    org_a, org_b = tenants.org_ids["a"], tenants.org_ids["b"]
    admin.execute("UPDATE alerts.rules SET enabled = false")  # the tenants' seed rules
    admin.execute("DELETE FROM chain.blocks")
    with tenants.login(tenants.user("a", "writer")) as acme:
        acme.execute(RULE, (org_a, "every-block", "chain.blocks", "number >= 0"))
    with tenants.login(tenants.user("b", "writer")) as evil:
        evil.execute(RULE, (org_b, "later", "chain.blocks", LATER))
        evil.execute(RULE, (org_b, "fine", "chain.blocks", "number >= 0"))
    rpc = RpcClient([anvil.url])
    url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    ingest = LiveIngest(chain_config(anvil.url), url, log=lambda _m: None)
    holder = psycopg.connect(tenants.login_url(tenants.user("b", "writer")))
    try:
        ingest.prepare()
        rpc.call("anvil_mine", ["0x2"])
        _catch_up(ingest)
        holder.execute("SET statement_timeout = 0")
        holder.execute("SELECT id FROM alerts.rules WHERE org_id = %s FOR UPDATE", (org_b,))
        rpc.call("anvil_mine", ["0x4"])
        _catch_up(ingest)
        assert _active(admin, org_b) == {"fine"}, "the locked rule was not set aside"
        shown = scalar(admin, "SELECT last_error FROM alerts.rules WHERE name = 'later'")
        assert shown is None, "its row is locked: the reason waits for it"
        for _ in range(3):  # later batches evaluate it no more
            rpc.call("anvil_mine", ["0x2"])
            _catch_up(ingest)
        holder.rollback()  # evil lets go: the next batch records why, where its writers see it
        rpc.call("anvil_mine", ["0x1"])
        _catch_up(ingest)
        said = scalar(admin, "SELECT last_error FROM alerts.rules WHERE name = 'later'")
        assert said is not None and re.fullmatch(SET_ASIDE, said), said
        with tenants.login(tenants.user("b", "writer")) as evil:  # saved again, it counts again
            evil.execute("UPDATE alerts.rules SET condition = 'number >= 0' WHERE name = 'later'")
        assert _active(admin, org_b) == {"fine", "later"}
        assert scalar(admin, "SELECT count(*) FROM alerts.held_aside") == 0
    finally:
        holder.close()
        ingest.close()
    tip = stored_tip(admin, 31337)
    assert tip == node_head(rpc) == 13, "ingest kept up with the node"
    every_block = set(range(tip + 1))
    assert _firings(admin, org_a, "every-block") == every_block, "acme's rule fired every block"
    assert _firings(admin, org_b, "fine") == every_block, "evil's other rule is not punished"
    assert _firings(admin, org_b, "later") == set()
