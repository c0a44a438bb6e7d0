"""Live ingest against a real devchain (anvil at 400 ms blocks with traffic): the hot tables equal
the node's canonical chain through reorgs, kills mid-batch, lagging and failing RPC endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from chainlake.chain import ingest as ingest_module
from chainlake.chain.ingest import DeepReorg, LiveIngest
from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil, Traffic, deploy_token
from tests.chainkit import (
    chain_config,
    hot_rows,
    node_head,
    node_rows,
    running_ingest,
    stored_tip,
    wait_until,
)
from tests.faultyproxy import FaultyProxy
from tests.harness import TestCluster

CHAIN = 31337


@pytest.fixture
def devchain() -> Iterator[tuple[Anvil, RpcClient, Traffic]]:
    from chainlake.local.localpg import free_port

    with Anvil(free_port()) as anvil:
        rpc = RpcClient([anvil.url])
        traffic = Traffic(rpc, deploy_token(rpc), rate=40).start()
        try:
            yield anvil, rpc, traffic
        finally:
            traffic.stop()


@pytest.fixture
def ingest_url(cluster: TestCluster, database: str) -> str:
    return cluster.url(database, "chainlake_ingest")


def settle(rpc: RpcClient, traffic: Traffic, admin: psycopg.Connection[Any]) -> int:
    """Stop traffic, stop mining, wait until the stored tip is the node's head; return it."""
    traffic.stop()
    rpc.call("evm_setIntervalMining", [0])
    target = node_head(rpc)

    def caught_up() -> bool:
        return bool(
            stored_tip(admin, CHAIN) == target
            and admin.execute(
                "SELECT hash FROM chain.blocks WHERE chain_id = %s AND number = %s",
                (CHAIN, target),
            ).fetchone()
            == (bytes.fromhex(rpc.call("eth_getBlockByNumber", [hex(target), False])["hash"][2:]),)
        )

    wait_until(caught_up, 30, "ingest to reach the node's head")
    return target


def assert_hot_equals_node(rpc: RpcClient, admin: psycopg.Connection[Any], tip: int) -> None:
    node = node_rows(rpc, CHAIN, 0, tip)
    hot = hot_rows(admin, CHAIN, 0, tip)
    for table in node:
        assert len(hot[table]) == len(node[table]), table
        assert hot[table] == node[table], f"chain.{table} differs from the node"
    assert admin.execute("SELECT * FROM chain.check(%s)", (CHAIN,)).fetchall() == []


def test_hot_tables_equal_the_node_after_reorgs_of_depth_1_3_and_10(
    devchain: tuple[Anvil, RpcClient, Traffic], ingest_url: str, admin: psycopg.Connection[Any]
) -> None:
    anvil, rpc, traffic = devchain
    config = chain_config(anvil.url)
    with running_ingest(config, ingest_url):
        wait_until(
            lambda: (admin.execute("SELECT count(*) FROM chain.logs").fetchone() or (0,))[0] > 20,
            60,
            f"token transfers from the traffic generator (sent {traffic.sent}, "
            f"refused batches {traffic.failed})",
        )
        for depth in (1, 3, 10, 3, 1):
            wait_until(lambda: stored_tip(admin, CHAIN) >= 12, 30, "blocks to be ingested")
            target = node_head(rpc)
            wait_until(lambda t=target: stored_tip(admin, CHAIN) >= t, 30, "ingest to catch up")
            rpc.call("anvil_reorg", [depth, []])
            wait_until(lambda t=target: stored_tip(admin, CHAIN) > t + 1, 30, "blocks after it")
        tip = settle(rpc, traffic, admin)
    assert_hot_equals_node(rpc, admin, tip)
    depths = [r[0] for r in admin.execute("SELECT depth FROM chain.reorgs ORDER BY id")]
    assert sorted(set(depths)) == [1, 3, 10], depths
    invalidations = admin.execute(
        "SELECT count(*) FROM chain.events WHERE chain_id = %s AND kind = 'invalidated'", (CHAIN,)
    ).fetchone()
    assert invalidations == (len(depths),)
    transfers = admin.execute("SELECT count(*) FROM chain.logs").fetchone()
    assert transfers is not None and transfers[0] > 0, "token transfers survive in the chain"


def test_every_batch_is_a_dataset_event_with_a_notify(
    devchain: tuple[Anvil, RpcClient, Traffic], ingest_url: str, admin: psycopg.Connection[Any]
) -> None:
    anvil, _, _ = devchain
    admin.execute("LISTEN chain_events")
    with running_ingest(chain_config(anvil.url), ingest_url):
        wait_until(lambda: stored_tip(admin, CHAIN) >= 3, 30, "blocks")
        notices = list(admin.notifies(timeout=5, stop_after=1))
    assert notices and notices[0].channel == "chain_events"
    event = admin.execute(
        "SELECT kind, from_block <= to_block FROM chain.events WHERE id = %s",
        (int(notices[0].payload),),
    ).fetchone()
    assert event == ("ingested", True)
    covered = admin.execute(
        "SELECT sum(to_block - from_block + 1) FROM chain.events WHERE kind = 'ingested'"
    ).fetchone()
    tip = stored_tip(admin, CHAIN)
    assert covered is not None and covered[0] >= tip + 1


def test_a_kill_mid_batch_loses_nothing_and_duplicates_nothing(
    devchain: tuple[Anvil, RpcClient, Traffic],
    ingest_url: str,
    admin: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anvil, rpc, traffic = devchain
    config = chain_config(anvil.url)
    real_copy = ingest_module.copy_blocks
    kills = {"left": 3}

    def copy_then_die(cur: psycopg.Cursor[Any], blocks: list[Any]) -> None:
        real_copy(cur, blocks)  # rows are written, the batch is not committed yet...
        if kills["left"] > 0 and any(b.transactions for b in blocks):
            kills["left"] -= 1
            # ...and the ingest process dies: its session ends, Postgres rolls the batch back.
            admin.execute("SELECT pg_terminate_backend(%s)", (cur.connection.info.backend_pid,))

    monkeypatch.setattr(ingest_module, "copy_blocks", copy_then_die)
    while kills["left"] > 0:
        ingest = LiveIngest(config, ingest_url, log=lambda _m: None)
        ingest.prepare()
        with pytest.raises(psycopg.OperationalError):
            for _ in range(200):
                if ingest.step() == 0:
                    wait_until(lambda: node_head(rpc) > stored_tip(admin, CHAIN), 10, "a block")
        ingest.close()
    monkeypatch.setattr(ingest_module, "copy_blocks", real_copy)
    with running_ingest(config, ingest_url):
        tip = settle(rpc, traffic, admin)
    assert_hot_equals_node(rpc, admin, tip)


def test_a_reorg_below_finality_stops_ingestion_loudly_and_changes_nothing(
    devchain: tuple[Anvil, RpcClient, Traffic], ingest_url: str, admin: psycopg.Connection[Any]
) -> None:
    anvil, rpc, _ = devchain
    config = chain_config(anvil.url, finality_depth=2)
    with (
        pytest.raises(DeepReorg, match="at or below finality"),
        running_ingest(config, ingest_url),
    ):
        wait_until(lambda: stored_tip(admin, CHAIN) >= 8, 30, "blocks")
        target = node_head(rpc)
        wait_until(lambda: stored_tip(admin, CHAIN) >= target, 30, "ingest to catch up")
        before = hot_rows(admin, CHAIN, 0, target)
        rpc.call("anvil_reorg", [6, []])
        wait_until(
            lambda: (
                admin.execute(
                    "SELECT stopped_reason IS NOT NULL FROM chain.chains WHERE chain_id = %s",
                    (CHAIN,),
                ).fetchone()
                == (True,)
            ),
            30,
            "ingestion to stop",
        )
    assert hot_rows(admin, CHAIN, 0, target) == before
    assert admin.execute("SELECT count(*) FROM chain.reorgs").fetchone() == (0,)


def test_a_lagging_and_failing_endpoint_causes_no_false_reorg(
    devchain: tuple[Anvil, RpcClient, Traffic], ingest_url: str, admin: psycopg.Connection[Any]
) -> None:
    anvil, rpc, traffic = devchain
    with FaultyProxy(anvil.url) as lagging:
        lagging.faults.lag_blocks = 4
        lagging.faults.lag_every = 2  # every other answer comes from a node 4 blocks behind
        config = chain_config(lagging.url, ws_url="")
        with running_ingest(config, ingest_url):
            wait_until(lambda: stored_tip(admin, CHAIN) >= 15, 40, "blocks through the proxy")
            lagging.faults.fail_next = 5  # then a burst of 500s
            wait_until(lambda: stored_tip(admin, CHAIN) >= 20, 40, "blocks after the 500s")
            lagging.faults.lag_blocks = 0
            tip = settle(rpc, traffic, admin)
    assert admin.execute("SELECT count(*) FROM chain.reorgs").fetchone() == (0,)
    assert_hot_equals_node(rpc, admin, tip)


def test_two_chains_are_ingested_side_by_side(
    ingest_url: str, admin: psycopg.Connection[Any]
) -> None:
    from chainlake.local.localpg import free_port

    with Anvil(free_port(), chain_id=1001) as one, Anvil(free_port(), chain_id=1002) as two:
        configs = [chain_config(one.url, 1001), chain_config(two.url, 1002)]
        with running_ingest(configs[0], ingest_url), running_ingest(configs[1], ingest_url):
            for chain_id in (1001, 1002):
                wait_until(lambda c=chain_id: stored_tip(admin, c) >= 5, 30, f"chain {chain_id}")
    rows = admin.execute(
        "SELECT a.number FROM chain.blocks a JOIN chain.blocks b "
        "ON a.number = b.number AND a.chain_id = 1001 AND b.chain_id = 1002 ORDER BY 1 LIMIT 3"
    ).fetchall()
    assert [r[0] for r in rows] == [0, 1, 2]
    names = admin.execute("SELECT name FROM chain.chains ORDER BY chain_id").fetchall()
    assert names == [("dev1001",), ("dev1002",)]
