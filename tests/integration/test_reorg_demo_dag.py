"""The demo DAG on the live devchain through reorgs (issue 16): anvil mining every 400 ms with
ERC-20 traffic, live ingest, a runner, and the demo jobs (erc20_transfers -> token_volume_hourly ->
token_volume_usd, with token_prices). Reorgs of every depth from 1 to 10 happen at random
moments while the DAG runs, each over blocks whose transfers were already derived all the way
down the DAG (work to lose), with transfers flowing again after it. Once the DAG has caught up:
`erc20_transfers` holds exactly the canonical chain's Transfer logs (no orphaned rows, no
duplicates, none missing), `token_volume_hourly` summed over its partitions equals the same
aggregate computed from those logs, and the lineage of a `token_volume_usd` version reaches a
chain range whose block hashes the node confirms."""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
from psycopg.rows import dict_row

from chainlake import jobdefs
from chainlake.chain.rpc import RpcClient
from chainlake.egress import address_of
from chainlake.local import demo
from chainlake.local.devchain import Anvil, Traffic, deploy_token
from chainlake.local.localpg import free_port
from chainlake.local.pricefeed import PriceFeed
from tests.chainkit import Miner, chain_config, node_head, running_ingest, wait_until
from tests.runtime import request_run, running_runner
from tests.tenants import Tenants

CHAIN = 31337
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
Transfer = tuple[int, int, str, str, str, str, str]  # block, log index, tx, token, from, to, value


class Devchain:
    """Anvil with the DevToken and ~20 transactions a second, a block every 400 ms."""

    def __init__(self, url: str) -> None:
        self.url, self.rpc = url, RpcClient([url])
        self.rpc.call("evm_setAutomine", [True])
        self.token = deploy_token(self.rpc)
        self.rpc.call("evm_setAutomine", [False])
        self.traffic = Traffic(self.rpc, self.token, rate=20).start()

    def reorg(self, depth: int) -> None:
        """The newest `depth` blocks replaced by empty ones; the transactions they held are
        gone, so traffic starts again from the node's nonces, on an empty pool (until the
        devchain's own traffic survives reorgs)."""
        self.traffic.stop()
        self.rpc.call("anvil_reorg", [depth, []])
        self.rpc.call("anvil_dropAllTransactions")
        self.traffic = Traffic(self.rpc, self.token, rate=20).start()


@contextmanager
def devchain() -> Iterator[tuple[Devchain, Miner]]:
    with Anvil(free_port(), block_time=None) as anvil:
        chain = Devchain(anvil.url)
        try:
            with Miner(chain.rpc) as miner:
                yield chain, miner
        finally:
            chain.traffic.stop()


@contextmanager
def price_feed() -> Iterator[PriceFeed]:
    feed = PriceFeed().start()
    try:
        yield feed
    finally:
        feed.stop()


def install_demo(tenants: Tenants, token: str, feed: PriceFeed) -> None:
    """The demo DAG's jobs in org a, as `chainlake up` fills them in; erc20_transfers every
    second rather than every five (the same job, a shorter wait for the test)."""
    target = demo.ChainTarget(CHAIN, "dev", [], token=token, price_feed=feed.url())
    with psycopg.connect(tenants.cluster.url(tenants.database), autocommit=True) as admin:
        # the feed is on loopback: the operator allows its exact address, as `chainlake up` does
        admin.execute("SELECT core.allow_egress(%s)", (address_of(feed.url()),))
    with tenants.login(tenants.user("a", "writer")) as conn:
        for spec in demo.demo_jobs(target):
            if spec["name"] == "erc20_transfers":
                spec["chain_input"] = {"min_interval_seconds": 1}
            jobdefs.apply(conn, tenants.org_ids["a"], spec)
    request_run(tenants, tenants.user("a", "writer"), "token_prices")


def canonical_transfers(rpc: RpcClient, token: str, last: int) -> list[Transfer]:
    logs = rpc.call(
        "eth_getLogs",
        [{"fromBlock": "0x0", "toBlock": hex(last), "address": token, "topics": [TRANSFER]}],
    )
    return [
        (int(g["blockNumber"], 16), int(g["logIndex"], 16), g["transactionHash"].lower(),
         g["address"].lower(), "0x" + g["topics"][1][-40:].lower(),
         "0x" + g["topics"][2][-40:].lower(), str(int(g["data"], 16)))
        for g in logs
    ]  # fmt: skip


def current_rows(admin: psycopg.Connection[Any], org: str, dataset: str) -> list[dict[str, Any]]:
    row = admin.execute(
        "SELECT uris FROM catalog.queryable_datasets() WHERE org_name = %s AND dataset = %s",
        (org, dataset),
    ).fetchone()
    return [
        json.loads(line)
        for uri in (row[0] if row else [])
        for line in Path(urlparse(uri).path).read_text().splitlines()
    ]


def derived_transfers(admin: psycopg.Connection[Any]) -> list[Transfer]:
    return [
        (r["block_number"], r["log_index"], r["transaction_hash"], r["token"], r["from"],
         r["to"], r["value"])
        for r in current_rows(admin, "a", "erc20_transfers")
    ]  # fmt: skip


def hourly_totals(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        total = totals[(r["hour"], r["token"], r["address"])]
        total[0] += int(r["sent"])
        total[1] += int(r["received"])
        total[2] += r["transfers"]
    return {k: (s, r, n) for k, (s, r, n) in totals.items()}


def expected_hourly(
    rpc: RpcClient, transfers: list[Transfer]
) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    """The hourly aggregate computed directly from canonical logs and the node's block times."""
    blocks = sorted({t[0] for t in transfers})
    times = dict(zip(blocks, rpc.batch([("eth_getBlockByNumber", [hex(n), False])
                                        for n in blocks]), strict=True))  # fmt: skip
    rows = []
    for number, _, _, token, sender, receiver, value in transfers:
        at = datetime.fromtimestamp(int(times[number]["timestamp"], 16), UTC).isoformat()
        hour = at[:13] + ":00:00+00:00"
        rows.append({"hour": hour, "token": token, "address": sender, "sent": value,
                     "received": "0", "transfers": 1})  # fmt: skip
        rows.append({"hour": hour, "token": token, "address": receiver, "sent": "0",
                     "received": value, "transfers": 1})  # fmt: skip
    return hourly_totals(rows)


def caught_up_at_head(admin: psycopg.Connection[Any], tenants: Tenants, rpc: RpcClient) -> int:
    """With the chain held still: wait until ingest has its head and the DAG has derived every
    block of it all the way down; returns the head."""
    head = node_head(rpc)
    wait_until(
        lambda: demo.caught_up(admin, tenants.org_ids["a"], CHAIN, head), 120, "the DAG at the head"
    )
    return head


@contextmanager
def held_over_derived_transfers(
    miner: Miner, admin: psycopg.Connection[Any], tenants: Tenants, rpc: RpcClient, depth: int
) -> Iterator[list[Transfer]]:
    """Hold the chain still at a moment when its newest `depth` blocks hold transfers that the
    DAG has derived all the way down (work a reorg of that depth would lose); yields them."""
    for _ in range(60):
        with miner.paused():
            head = caught_up_at_head(admin, tenants, rpc)
            orphaned = [t for t in derived_transfers(admin) if t[0] > head - depth]
            if orphaned:
                yield orphaned
                return
        time.sleep(0.4)  # the newest blocks hold no transfer: a few more
    raise AssertionError(f"no transfers in the newest {depth} block(s) for a minute")


def superseded_rows(admin: psycopg.Connection[Any], reorg_count: int) -> int:
    """Rows of erc20_transfers that the reorg numbered `reorg_count` superseded."""
    row = admin.execute(
        "SELECT coalesce(sum(v.row_count), 0) FROM catalog.asset_versions v "
        "JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id "
        "JOIN chain.reorgs g ON g.event_id = v.superseded_by_event "
        "WHERE d.name = 'erc20_transfers' AND g.id = (SELECT id FROM chain.reorgs ORDER BY id "
        "OFFSET %s LIMIT 1)",
        (reorg_count - 1,),
    ).fetchone()
    return int(row[0]) if row else 0


def reorgs_seen(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute("SELECT count(*) FROM chain.reorgs").fetchone()
    return int(row[0]) if row else 0


def test_the_demo_dag_holds_the_canonical_chain_through_reorgs_of_depth_1_to_10(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    depths = list(range(1, 11))
    chance = random.Random()
    chance.shuffle(depths)
    lost: dict[int, list[Transfer]] = {}
    ingest_url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    with devchain() as (node, miner), price_feed() as feed:
        # installed before ingest starts, as `chainlake up` does: the DAG is given every block
        # from the chain's first (a chain job installed later starts at the next batch)
        install_demo(tenants, node.token, feed)
        with (
            running_ingest(chain_config(node.url, CHAIN), ingest_url),
            running_runner(tenants, tmp_path / "storage", concurrency=4),
        ):
            rpc = node.rpc
            wait_until(lambda: node_head(rpc) >= 20, 30, "a chain to reorganise")
            for depth in depths:
                time.sleep(chance.uniform(0.5, 3.0))  # blocks and runs keep coming meanwhile
                with held_over_derived_transfers(miner, admin, tenants, rpc, depth) as orphaned:
                    lost[depth] = orphaned
                    seen = reorgs_seen(admin)
                    node.reorg(depth)  # the new branch holds none of them
                    wait_until(
                        lambda seen=seen: reorgs_seen(admin) > seen,
                        30,
                        f"the reorg of depth {depth}",
                    )
                assert superseded_rows(admin, seen + 1) >= len(orphaned), "superseded, not kept"
            time.sleep(3)  # transfers flow after the last reorg too
            node.traffic.stop()
            with miner.paused():
                head = caught_up_at_head(admin, tenants, rpc)
                wait_until(lambda: admin.execute(
                    "SELECT count(*) = 0 FROM runs.runs WHERE job_name = ANY(%s) "
                    "AND status NOT IN ('succeeded', 'dead')", (list(demo.RANGED),),
                ).fetchone() == (True,), 60, "every run of the DAG to finish")  # fmt: skip
                canonical = canonical_transfers(rpc, node.token, head)
                expected = expected_hourly(rpc, canonical)
                derived = derived_transfers(admin)
                hourly = current_rows(admin, "a", "token_volume_hourly")
                lineage = usd_lineage(tenants, admin)
                confirmed = {n: rpc.call("eth_getBlockByNumber", [hex(n), False])["hash"]
                             for n in {lineage["from_block"], lineage["to_block"]}}  # fmt: skip
    assert len(derived) == len(set(derived)), "no transfer twice"
    assert Counter(derived) == Counter(canonical), "exactly the canonical chain's transfers"
    for depth, gone in lost.items():
        assert not set(gone) & set(derived), f"no orphaned transfer of the reorg of depth {depth}"
    last_fork = admin.execute("SELECT max(fork_block) FROM chain.reorgs").fetchone()
    assert last_fork is not None and any(t[0] > last_fork[0] for t in canonical), "flowing after"
    assert hourly_totals(hourly) == expected
    assert lineage["first_hash"] == confirmed[lineage["from_block"]]
    assert lineage["last_hash"] == confirmed[lineage["to_block"]]


def usd_lineage(tenants: Tenants, admin: psycopg.Connection[Any]) -> dict[str, Any]:
    """The chain range the newest current token_volume_usd version comes from, through its
    lineage (as a reader of org a)."""
    with (
        tenants.login(tenants.user("a", "reader")) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        version = cur.execute(
            "SELECT max(v.version) FROM catalog.asset_versions v JOIN catalog.datasets d "
            "ON d.org_id = v.org_id AND d.id = v.dataset_id "
            "WHERE d.name = 'token_volume_usd' AND v.superseded_at IS NULL"
        ).fetchone()
        assert version is not None
        edges = cur.execute(
            "SELECT * FROM catalog.lineage(%s, 'token_volume_usd', %s, false, 5)",
            (tenants.org_ids["a"], version["max"]),
        ).fetchall()
    reads = [e["input_range"] for e in edges if e["input_dataset"] == "chain.logs"]
    assert reads, f"the lineage reaches the chain: {edges}"
    return dict(reads[0])
