"""Chain ingestion on the devchain, beside cryo on the same node in the same run.

- `tip_lag_p50_ms` / `tip_lag_p99_ms`: anvil mining every 400 ms with ~50 transactions a block;
  from a block's appearance at the node (a separate newHeads subscriber's receive time) to its
  batch's commit by live ingest (goal p99 < 50 ms).
- `backfill_ratio_vs_cryo`: the same 2,000-block range (blocks, transactions with receipts,
  logs) to Parquet, our backfill over cryo (`cryo.freeze` of blocks, transactions and logs), in
  blocks per second (goal >= 1.0).
- `reorg_settle_ms`: the demo DAG (erc20_transfers -> token_volume_hourly -> token_volume_usd)
  on anvil at 400 ms blocks with ~20 transactions a second, live ingest and a runner; from a
  reorg at the node (`anvil_reorg`, depth 1 to 10, once the DAG has derived every block it
  orphans: the miner holds still meanwhile) to the moment every current partition of the DAG is
  consistent again (the three datasets cover the same blocks, without a gap, through the old
  head: the recompute has landed all the way down). p50 (the value) and p99 over 10 reorgs.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.common import bench_cluster, migrated_database, percentile
from chainlake import jobdefs, tenancy
from chainlake.chain.archive import backfill
from chainlake.chain.fetch import head
from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.chain.rpc import RpcClient
from chainlake.egress import address_of
from chainlake.local import demo
from chainlake.local.devchain import Anvil, Traffic, deploy_token
from chainlake.local.localpg import free_port
from chainlake.local.pricefeed import PriceFeed
from chainlake.storage import LocalStore
from runner.worker import Runner, RunnerConfig

TIP_SECONDS = float(os.environ.get("BENCH_TIP_SECONDS", "60"))
TX_PER_BLOCK = 50
BACKFILL_BLOCKS = 2000
BACKFILL_TX_PER_BLOCK = 10


def _appearances(url: str, seen: dict[int, float], stop: threading.Event) -> None:
    from websockets.sync.client import connect

    with connect(url.replace("http", "ws"), open_timeout=5) as ws:
        ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            )
        )
        ws.recv(timeout=5)
        while not stop.is_set():
            try:
                message = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            header = message.get("params", {}).get("result", {})
            if "number" in header:
                seen.setdefault(int(header["number"], 16), time.monotonic())


def tip_lag() -> dict[str, Any]:
    with bench_cluster() as pg, Anvil(free_port()) as anvil:
        db = migrated_database(pg, "bench_tip")
        ingest_url = pg.socket_url("bench_tip", "chainlake_ingest")
        rpc = RpcClient([anvil.url])
        traffic = Traffic(rpc, deploy_token(rpc), rate=TX_PER_BLOCK / 0.4).start()
        seen: dict[int, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=_appearances, args=(anvil.url, seen, stop), daemon=True)
        watcher.start()
        config = ChainConfig(
            chain_id=31337,
            name="bench",
            rpc_urls=[anvil.url],
            ingest_from="latest",
            use_finalized_tag=False,
        )
        ingest = LiveIngest(config, ingest_url, log=lambda _m: None)
        runner = threading.Thread(
            target=ingest.run, args=(stop,), kwargs={"max_seconds": TIP_SECONDS}, daemon=True
        )
        runner.start()
        runner.join(TIP_SECONDS + 30)
        stop.set()
        traffic.stop()
        watcher.join(5)
        committed = dict(ingest.stats.committed_at)
        ingest.close()
        with psycopg.connect(db) as conn:
            row = conn.execute(
                "SELECT count(*), coalesce(avg(c), 0) FROM (SELECT count(*) c "
                "FROM chain.transactions GROUP BY block_number) t"
            ).fetchone()
    lags = [(committed[n] - t) * 1000 for n, t in seen.items() if n in committed]
    lags = [max(0.0, lag) for lag in lags]
    blocks, avg_tx = row or (0, 0)
    note = f"{len(lags)} blocks over {TIP_SECONDS:.0f} s at 400 ms, ~{float(avg_tx):.0f} tx/block"
    return {
        "tip_lag_p50_ms": {"value": round(percentile(lags, 50), 1), "unit": "ms", "note": note},
        "tip_lag_p99_ms": {
            "value": round(percentile(lags, 99), 1),
            "unit": "ms",
            "note": f"goal < 50; {blocks} blocks with transactions",
        },
    }


def filled_chain(url: str, blocks: int) -> RpcClient:
    """A node (mining on demand) given the DevToken and `blocks` blocks of traffic."""
    rpc = RpcClient([url])
    rpc.call("evm_setAutomine", [True])
    token = deploy_token(rpc)
    rpc.call("evm_setAutomine", [False])
    _fill(rpc, token, blocks)
    return rpc


def _fill(rpc: RpcClient, token: str, blocks: int) -> None:
    """`blocks` blocks of ~BACKFILL_TX_PER_BLOCK transactions each, mined on demand."""
    traffic = Traffic(rpc, token, rate=0)
    accounts = traffic.fund_accounts()
    rpc.call("evm_mine")
    import random

    rnd = random.Random(1)
    for _ in range(blocks):
        rpc.batch(traffic.transactions(accounts, BACKFILL_TX_PER_BLOCK, rnd))
        rpc.call("evm_mine")
    rpc.call("anvil_mine", [hex(70)])  # past anvil's finality (64 blocks)


def backfill_vs_cryo() -> dict[str, Any]:
    import cryo

    with bench_cluster() as pg, Anvil(free_port(), block_time=None) as anvil:
        migrated_database(pg, "bench_backfill")
        url = pg.socket_url("bench_backfill", "chainlake_ingest")
        filled_chain(anvil.url, BACKFILL_BLOCKS)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            cryo.freeze(
                ["blocks", "transactions", "logs"],
                blocks=[f"0:{BACKFILL_BLOCKS}"],
                rpc=anvil.url,
                output_dir=out,
                no_verbose=True,
            )
            cryo_s = time.perf_counter() - start
            cryo_files = len(list(Path(out).glob("*.parquet")))
        with tempfile.TemporaryDirectory() as out, psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT chain.register_chain(31337, 'bench', 0, 64, 100)")
            start = time.perf_counter()
            done = backfill(
                conn,
                LocalStore(Path(out)),
                RpcClient([anvil.url]),
                31337,
                0,
                BACKFILL_BLOCKS - 1,
                workers=8,
                log=lambda _m: None,
            )
            ours_s = time.perf_counter() - start
            txs = conn.execute("SELECT count(*) FROM chain.chunks").fetchone()
    ours = done.blocks / ours_s
    peer = BACKFILL_BLOCKS / cryo_s
    return {
        "backfill_ratio_vs_cryo": {
            "value": round(ours / peer, 3),
            "ours_per_s": round(ours, 1),
            "peer": round(peer, 1),
            "unit": "ratio",
            "note": f"{BACKFILL_BLOCKS} blocks x ~{BACKFILL_TX_PER_BLOCK} tx, blocks/s; "
            f"{txs[0] if txs else 0} chunks vs cryo's {cryo_files} files",
        }
    }


REORGS = 10


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll every 20 ms until `predicate` holds; returns when (monotonic seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.02)
    raise RuntimeError(f"gave up after {timeout:.0f} s waiting for {what}")


def _install_demo(db: str, token: str, feed: PriceFeed) -> str:
    """The demo DAG's jobs in an org `demo` (as `chainlake up` fills them in); its org id."""
    with psycopg.connect(db, autocommit=True) as conn:
        org = str(tenancy.create_org(conn, "demo")["id"])
        target = demo.ChainTarget(31337, "bench", [], token=token, price_feed=feed.url())
        conn.execute("SELECT core.allow_egress(%s)", (address_of(feed.url()),))  # loopback
        for spec in demo.demo_jobs(target):
            jobdefs.apply(conn, org, spec)
        conn.execute("SELECT runs.request(%s, 'token_prices')", (org,))
    return org


class _Miner:
    """A block every 400 ms on a node started with --no-mining, until held: the chain stands
    still while the DAG derives its newest blocks, then is reorganised."""

    def __init__(self, rpc: RpcClient) -> None:
        self.rpc, self.mining, self.stop = rpc, threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.mining.set()
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.4):
            if self.mining.is_set():
                self.rpc.call("evm_mine")

    def hold(self) -> None:
        self.mining.clear()
        time.sleep(0.4)  # a block being mined finishes


def _settle_once(
    conn: psycopg.Connection[Any], org: str, rpc: RpcClient, miner: _Miner, depth: int
) -> float:
    """One reorg of `depth` once the DAG has derived every block it orphans; milliseconds from
    the reorg at the node until every current partition of the DAG is consistent again."""
    miner.hold()
    old_head = int(rpc.call("eth_blockNumber"), 16)
    _wait(lambda: demo.caught_up(conn, org, 31337, old_head), 120, "the DAG at the head")
    reorgs = conn.execute("SELECT count(*) FROM chain.reorgs").fetchone()
    rpc.call("anvil_reorg", [depth, []])
    start = time.monotonic()
    miner.mining.set()
    settled = _wait(
        lambda: (
            conn.execute("SELECT count(*) FROM chain.reorgs").fetchone() != reorgs
            and demo.caught_up(conn, org, 31337, old_head)
        ),
        120,
        "the DAG to settle",
    )
    return (settled - start) * 1000


def reorg_settle() -> dict[str, Any]:
    chance = random.Random(16)
    with (
        bench_cluster() as pg,
        Anvil(free_port(), block_time=None) as anvil,
        tempfile.TemporaryDirectory() as storage,
    ):
        db = migrated_database(pg, "bench_reorg")
        rpc = RpcClient([anvil.url])
        rpc.call("evm_setAutomine", [True])
        token = deploy_token(rpc)
        rpc.call("evm_setAutomine", [False])
        traffic = Traffic(rpc, token, rate=20).start()
        miner = _Miner(rpc)
        feed = PriceFeed().start()
        org = _install_demo(db, token, feed)
        stop = threading.Event()
        config = ChainConfig(chain_id=31337, name="bench", rpc_urls=[anvil.url],
                             finality_depth=32, use_finalized_tag=False)  # fmt: skip
        url = pg.socket_url("bench_reorg", "chainlake_ingest")
        ingest = LiveIngest(config, url, log=lambda _m: None)
        ingesting = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
        ingesting.start()
        runner = Runner(RunnerConfig(pg.socket_url("bench_reorg", "chainlake_runner"),
                                     Path(storage)))  # fmt: skip
        running = threading.Thread(target=runner.run_forever, daemon=True)
        running.start()
        settle_ms = []
        try:
            with psycopg.connect(db, autocommit=True) as conn:
                _wait(lambda: (head(rpc) or (0,))[0] >= 30, 60, "30 blocks")
                for _ in range(REORGS):
                    time.sleep(chance.uniform(1, 4))  # blocks and runs keep coming meanwhile
                    depth = chance.randint(1, 10)
                    settle_ms.append(_settle_once(conn, org, rpc, miner, depth))
                    # the orphaned transactions are gone: traffic starts again on an empty pool
                    traffic.stop()
                    rpc.call("anvil_dropAllTransactions")
                    traffic = Traffic(rpc, token, rate=20).start()
        finally:
            traffic.stop()
            miner.stop.set()
            stop.set()
            runner.stopping.set()
            ingesting.join(20)
            running.join(60)
            ingest.close()
            feed.stop()
    return {
        "reorg_settle_ms": {
            "value": round(percentile(settle_ms, 50), 1),
            "p50": round(percentile(settle_ms, 50), 1),
            "p99": round(percentile(settle_ms, 99), 1),
            "samples": [round(ms) for ms in settle_ms],
            "unit": "ms",
            "note": f"{REORGS} reorgs of depth 1-10 over blocks the DAG had derived, 400 ms "
            "blocks: from the reorg at the node to the demo DAG's three block-range datasets "
            "consistent again through the old head",
        }
    }


def run() -> dict[str, Any]:
    return {**tip_lag(), **backfill_vs_cryo(), **reorg_settle()}
