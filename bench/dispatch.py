"""Dispatch through the runner, beside raw pgmq on the same database in the same run.

- `dispatch_ratio_vs_pgmq`: no-op jobs (service launcher, an in-process SDK service) requested
  with `runs.request` and completed through the runner, in runs/s, over raw pgmq
  send + read + archive of the same number of messages, in msgs/s (goal >= 0.5).
- `reactive_latency_p50_ms` / `_p99_ms`: with an idle runner, from the upstream run's commit
  (runs.complete) to the downstream attempt's claim (runs.start), by Postgres' clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg

from bench.common import bench_cluster, migrated_database, percentile, scalar
from chainlake.local.localpg import free_port
from chainlake.sdk import Context, job
from runner.worker import Runner, RunnerConfig

RUNS = 300
CHAIN = 40


@job
def noop(ctx: Context) -> None:
    ctx.metadata["ok"] = True


def _spec(name: str, endpoint: str, reactive_on: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "version": "1",
        "kind": "source",
        "launcher": {"kind": "service", "endpoint": endpoint},
        "output_datasets": [f"{name}_out"],
    }
    if reactive_on:
        spec |= {"kind": "reactive", "input_datasets": [reactive_on]}
    return spec


@job
def emit_one(ctx: Context) -> None:
    path = ctx.output_path("up_out", "x.txt")
    path.write_text(ctx.request["run_id"])
    ctx.output("up_out", uris=[path.as_uri()])


def raw_pgmq(url: str, n: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pgmq.create('bench_raw')")
        start = time.perf_counter()
        for i in range(n):
            conn.execute("SELECT pgmq.send('bench_raw', %s::jsonb)", (json.dumps({"i": i}),))
        done = 0
        while done < n:
            rows = conn.execute("SELECT msg_id FROM pgmq.read('bench_raw', 30, 50)").fetchall()
            for (msg_id,) in rows:
                conn.execute("SELECT pgmq.archive('bench_raw', %s::bigint)", (msg_id,))
            done += len(rows)
        return n / (time.perf_counter() - start)


def start_services(port: int, up_port: int) -> list[subprocess.Popen[bytes]]:
    """The no-op jobs as their own processes, as remote services would be."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", f"from bench.dispatch import {name}; {name}.serve({p})"]
        )
        for name, p in (("noop", port), ("emit_one", up_port))
    ]


def run() -> dict[str, Any]:
    port, up_port = free_port(), free_port()
    services = start_services(port, up_port)
    time.sleep(1.0)  # let them bind
    with bench_cluster() as pg, TemporaryDirectory() as storage:
        url = migrated_database(pg, "bench_dispatch")
        peer = raw_pgmq(url, RUNS)
        with psycopg.connect(url, autocommit=True) as admin:
            org = scalar(admin, "SELECT id FROM core.create_org('bench')")
            for p in (port, up_port):  # the services listen on loopback: the operator allows them
                admin.execute("SELECT core.allow_egress(%s)", (f"127.0.0.1:{p}",))
            for spec in (
                _spec("noop", f"http://127.0.0.1:{port}"),
                _spec("up", f"http://127.0.0.1:{up_port}"),
                _spec("down", f"http://127.0.0.1:{port}", reactive_on="up_out"),
            ):
                admin.execute("SELECT jobs.apply_definition(%s, %s)", (org, json.dumps(spec)))
            runner = Runner(
                RunnerConfig(
                    pg.socket_url("bench_dispatch", "chainlake_runner"),
                    Path(storage),
                    concurrency=8,
                )
            )
            thread = threading.Thread(target=runner.run_forever, daemon=True)
            thread.start()
            start = time.perf_counter()
            for _ in range(RUNS):
                admin.execute("SELECT runs.request(%s, 'noop')", (org,))
            done_sql = (
                "SELECT count(*) FROM runs.runs WHERE job_name = 'noop' AND status = 'succeeded'"
            )
            while scalar(admin, done_sql) < RUNS:
                time.sleep(0.01)
            ours = RUNS / (time.perf_counter() - start)
            latencies = []
            for _ in range(CHAIN):
                up = scalar(admin, "SELECT (runs.request(%s, 'up')).id", org)
                row = None
                while row is None:
                    time.sleep(0.005)
                    row = admin.execute(
                        "SELECT extract(epoch FROM d.started_at - u.finished_at) * 1000 "
                        "FROM runs.runs u JOIN runs.runs d ON d.trigger ->> 'upstream_run' = "
                        "u.id::text WHERE u.id = %s AND d.started_at IS NOT NULL",
                        (up,),
                    ).fetchone()
                latencies.append(float(row[0]))
                time.sleep(0.05)  # let the runner go idle again
            runner.stopping.set()
            thread.join(timeout=60)
    for service in services:
        service.terminate()
    return {
        "dispatch_ratio_vs_pgmq": {
            "value": round(ours / peer, 3),
            "ours_per_s": round(ours, 1),
            "peer": round(peer, 1),
            "unit": "ratio",
            "note": f"{RUNS} no-op service jobs vs pgmq send+read+archive",
        },
        "reactive_latency_p50_ms": {
            "value": round(percentile(latencies, 50), 2),
            "unit": "ms",
            "note": "upstream complete -> downstream claimed, idle runner",
        },
        "reactive_latency_p99_ms": {"value": round(percentile(latencies, 99), 2), "unit": "ms"},
    }
