"""Alerts at the tip of the devchain (400 ms blocks with token traffic), beside the chain itself.

- `alert_latency_p50_ms` / `alert_latency_p99_ms`: a rule that fires on every block, delivered
  to a webhook receiver on 127.0.0.1; from the block's appearance at the node (a separate
  newHeads subscriber's receive time) to the webhook request's arrival (goal p99 < 100 ms).
- `alert_rules_1000_lag_p99_ms`: the same with 999 more active rules on transactions, logs and
  blocks (none of which fire), over BENCH_ALERT_SECONDS (default 300); also the p99 of the first
  and the last third, which must not grow (goal p99 < 200 ms).

The peer is the chain: `tip_lag` (block appearance to ingest commit) of the same run is in the
note, so the alert path's own cost is the difference.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from bench.common import bench_cluster, migrated_database, percentile, scalar
from bench.ingest import TX_PER_BLOCK, _appearances
from chainlake.alerts.deliver import Deliverer
from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil, Traffic, deploy_token
from chainlake.local.localpg import free_port
from tests.receivers import Receiver, http_receiver

LATENCY_SECONDS = float(os.environ.get("BENCH_ALERT_LATENCY_SECONDS", "60"))
MANY_SECONDS = float(os.environ.get("BENCH_ALERT_SECONDS", "300"))


def _quiet_rules(count: int) -> list[tuple[str, str]]:
    """`count` rules that never fire, spread over the three chain datasets."""
    rules = []
    for i in range(count):
        dataset, condition = [
            ("chain.transactions", f"value = {10**30 + i} AND gas_used > 21000"),
            ("chain.logs", f"log_index = {100_000 + i}"),
            ("chain.blocks", f"gas_used * 2 < -{i}"),
        ][i % 3]
        rules.append((dataset, condition))
    return rules


def _run(db_name: str, quiet: int, seconds: float) -> tuple[list[tuple[float, float]], list[float]]:
    """(block appearance time, alert latency ms) per block, and the ingest lags (ms)."""
    key = Fernet.generate_key()
    with (
        bench_cluster() as pg,
        Anvil(free_port()) as anvil,
        http_receiver(Receiver()) as web,
    ):
        db = migrated_database(pg, db_name)
        with psycopg.connect(db, autocommit=True) as admin:
            org = scalar(admin, "SELECT id FROM core.create_org('bench')")
            admin.execute("SELECT core.allow_egress(%s)", (web.address,))  # loopback receiver
            admin.execute(
                "INSERT INTO alerts.channels (org_id, name, kind, target) "
                "VALUES (%s, 'hook', 'webhook', %s)",
                (org, f"{web.url}/hook"),
            )
            admin.execute(
                "INSERT INTO alerts.rules (org_id, name, dataset, condition, channels) "
                "VALUES (%s, 'every-block', 'chain.blocks', 'number >= 0', '{hook}')",
                (org,),
            )
            with admin.cursor() as cur:
                cur.executemany(
                    "INSERT INTO alerts.rules (org_id, name, dataset, condition) "
                    "VALUES (%s, %s, %s, %s)",
                    [(org, f"quiet-{i}", d, c) for i, (d, c) in enumerate(_quiet_rules(quiet))],
                )
        rpc = RpcClient([anvil.url])
        traffic = Traffic(rpc, deploy_token(rpc), rate=TX_PER_BLOCK / 0.4).start()
        seen: dict[int, float] = {}
        stop = threading.Event()
        threads = [threading.Thread(target=_appearances, args=(anvil.url, seen, stop), daemon=True)]
        config = ChainConfig(
            chain_id=31337,
            name="bench",
            rpc_urls=[anvil.url],
            ingest_from="latest",
            use_finalized_tag=False,
        )
        ingest = LiveIngest(config, pg.socket_url(db_name, "chainlake_ingest"), log=lambda _m: None)
        deliverer = Deliverer(pg.socket_url(db_name, "chainlake_alerts"), key, log=lambda _m: None)
        threads.append(
            threading.Thread(
                target=ingest.run, args=(stop,), kwargs={"max_seconds": seconds}, daemon=True
            )
        )
        threads.append(threading.Thread(target=deliverer.run, args=(stop,), daemon=True))
        for t in threads:
            t.start()
        threads[1].join(seconds + 30)
        time.sleep(1)  # the last deliveries
        stop.set()
        traffic.stop()
        for t in threads:
            t.join(10)
        committed = dict(ingest.stats.committed_at)
        ingest.close()
    arrivals: dict[int, float] = {}
    for post in web.posts("/hook"):
        arrivals.setdefault(json.loads(post.body)["to_block"], post.at)
    samples = sorted(
        (seen[n], max(0.0, (at - seen[n]) * 1000)) for n, at in arrivals.items() if n in seen
    )
    tip = [max(0.0, (committed[n] - t) * 1000) for n, t in seen.items() if n in committed]
    return samples, tip


def latency() -> dict[str, Any]:
    samples, tip = _run("bench_alert_latency", 0, LATENCY_SECONDS)
    lags = [lag for _, lag in samples]
    note = (
        f"{len(lags)} blocks at 400 ms, ~{TX_PER_BLOCK} tx/block, one rule firing on every "
        f"block; tip lag (appearance to ingest commit) p50 {percentile(tip, 50):.1f} ms, "
        f"p99 {percentile(tip, 99):.1f} ms"
    )
    return {
        "alert_latency_p50_ms": {
            "value": round(percentile(lags, 50), 1),
            "unit": "ms",
            "note": note,
        },
        "alert_latency_p99_ms": {
            "value": round(percentile(lags, 99), 1),
            "unit": "ms",
            "note": "goal < 100",
        },
    }


def many_rules() -> dict[str, Any]:
    samples, tip = _run("bench_alert_rules", 999, MANY_SECONDS)
    lags = [lag for _, lag in samples]
    third = max(1, len(lags) // 3)
    first, last = lags[:third], lags[-third:]
    return {
        "alert_rules_1000_lag_p99_ms": {
            "value": round(percentile(lags, 99), 1),
            "unit": "ms",
            "note": f"{len(lags)} blocks over {MANY_SECONDS:.0f} s with 1,000 active rules; p99 "
            f"first third {percentile(first, 99):.1f} ms, last third {percentile(last, 99):.1f} "
            f"ms; tip lag p99 {percentile(tip, 99):.1f} ms (goal < 200, no growth)",
        }
    }


def run() -> dict[str, Any]:
    return {**latency(), **many_rules()}
