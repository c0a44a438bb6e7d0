"""The example DAG with its outputs in the object store beside the same on the runner's disk.

- `s3_output_overhead_ratio`: p50 of one DAG round (a manual run of `numbers` with 2000 rows,
  then the reactive `double` that reads it) with the runner's store on S3 (SeaweedFS on
  127.0.0.1: inputs downloaded, outputs uploaded and checked in the bucket) over the same with
  the store on `file://` (goal <= 1.3).

The runner is its own process (`python -m runner`), as `chainlake up` starts it. Bounded: ROUNDS
rounds a mode, each at most ROUND_TIMEOUT seconds.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg

from bench.common import bench_cluster, migrated_database, percentile, scalar
from chainlake import jobdefs
from chainlake.domain import jobs
from chainlake.local.s3 import SeaweedS3

EXAMPLES = Path(__file__).resolve().parent.parent / "jobs" / "examples"
ROUNDS = 12
WARMUP = 2
ROUND_TIMEOUT = 60.0
ROWS = 2000
DONE = (
    "SELECT status FROM runs.runs WHERE job_name = 'double' "
    "AND trigger ->> 'upstream_run' = %s::text"
)
STATUS = "SELECT status, error FROM runs.runs WHERE id = %s"


def _round(admin: psycopg.Connection[Any], n: int) -> float:
    """Round n: numbers of ROWS + n rows (new content each round: the same content would be the
    same version, and nothing downstream would run), then double on them."""
    start = time.perf_counter()
    run = jobs.run_job(admin, org="bench", name="numbers", params={"count": ROWS + n})["id"]
    ends = time.monotonic() + ROUND_TIMEOUT
    while (status := scalar(admin, DONE, run)) not in ("succeeded", "failed", "dead"):
        first = admin.execute(STATUS, (run,)).fetchone()
        if first and first[0] in ("failed", "dead"):
            raise RuntimeError(f"numbers (run {run}) ended {first[0]}: {first[1]}")
        if time.monotonic() > ends:
            raise RuntimeError(f"the DAG round of run {run} did not end (numbers: {first})")
        time.sleep(0.01)
    if status != "succeeded":
        raise RuntimeError(f"double after run {run} ended {status}")
    return (time.perf_counter() - start) * 1000


def _mode(admin_url: str, runner_url: str, work: Path, store: dict[str, str]) -> list[float]:
    """ROUNDS rounds with a runner whose store is `store` (its CHAINLAKE_STORAGE_URL and keys)."""
    runner = subprocess.Popen(
        [sys.executable, "-m", "runner", "--database-url", runner_url, "--storage-root", str(work)],
        env={**os.environ, **store},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            rounds = itertools.count(int(scalar(admin, "SELECT count(*) FROM runs.runs")))
            for _ in range(WARMUP):
                _round(admin, next(rounds))
            return [_round(admin, next(rounds)) for _ in range(ROUNDS)]
    finally:
        runner.terminate()
        runner.wait(timeout=60)


def run() -> dict[str, Any]:
    with bench_cluster() as pg, TemporaryDirectory() as work:
        url = migrated_database(pg, "bench_s3")
        with psycopg.connect(url, autocommit=True) as admin:
            org = str(scalar(admin, "SELECT id FROM core.create_org('bench')"))
            for name in ("numbers", "double"):
                jobdefs.apply(admin, org, jobdefs.load(EXAMPLES / name / "job.yaml"))
        seaweed = SeaweedS3(Path(work) / "seaweed").start()
        try:
            s3 = {
                "CHAINLAKE_STORAGE_URL": "s3://chainlake/bench",
                "AWS_ENDPOINT_URL": seaweed.endpoint,
                "AWS_ACCESS_KEY_ID": seaweed.ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
            }
            runner_url = pg.socket_url("bench_s3", "chainlake_runner")
            on_disk = _mode(url, runner_url, Path(work) / "disk", {})
            on_s3 = _mode(url, runner_url, Path(work) / "s3-staging", s3)
        finally:
            seaweed.stop()
    disk_p50, s3_p50 = percentile(on_disk, 50), percentile(on_s3, 50)
    return {
        "dag_round_s3_ms": {
            "value": round(s3_p50, 1),
            "p99": round(percentile(on_s3, 99), 1),
            "peer": round(disk_p50, 1),
            "unit": "ms",
            "note": f"p50 of {ROUNDS}: numbers ({ROWS} rows) -> double, store on S3; peer: file://",
        },
        "s3_output_overhead_ratio": {
            "value": round(s3_p50 / disk_p50, 3),
            "unit": "ratio",
            "note": "goal <= 1.3",
        },
    }
