"""Chain ingestion on the devchain, beside cryo on the same node in the same run.

- `tip_lag_p50_ms` / `tip_lag_p99_ms`: anvil mining every 400 ms with ~50 transactions a block;
  from a block's appearance at the node (a separate newHeads subscriber's receive time) to its
  batch's commit by live ingest (goal p99 < 50 ms).
- `backfill_ratio_vs_cryo`: the same 2,000-block range (blocks, transactions with receipts,
  logs) to Parquet, our backfill over cryo (`cryo.freeze` of blocks, transactions and logs), in
  blocks per second (goal >= 1.0).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import bench_cluster, migrated_database, percentile
from chainlake.chain.archive import backfill
from chainlake.chain.devchain import Anvil, Traffic, deploy_token
from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.chain.rpc import RpcClient
from chainlake.localpg import free_port
from chainlake.storage import LocalStore

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


def run() -> dict[str, Any]:
    return {**tip_lag(), **backfill_vs_cryo()}
