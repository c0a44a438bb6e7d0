"""Runners scale out: the same queue of I/O-bound jobs drained by 1, 2 and 4 runner processes.

- `runner_scaling_4_over_1`: throughput (runs a second, from the first task taken to the last run
  recorded) with 4 runner processes over the same with 1 (goal >= 3.0). The jobs are service
  jobs (an in-process SDK service on 127.0.0.1, allowed by the operator) that each wait 50 ms and
  write one small output, so the runners, not the jobs, are what is measured.
- `runner_throughput_{1,2,4}`: runs a second with that many runner processes.
- `runner_phase_ms_{claim,launch,job,upload,commit}`: the mean time an attempt spent in each
  phase (runner/phases.py, from the runners' logs) with 4 runners, beside the same with 1
  (`peer`): a miss names its bottleneck.

Each runner process has TASK_SLOTS tenant slot (one: what scales is processes, not threads; a
runner of 4 slots is measured by runner_throughput_1 of earlier runs). Bounded: RUNS runs a
round, each round at most ROUND_TIMEOUT seconds.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import bench_cluster, migrated_database, scalar, started, stopped
from chainlake.domain import jobs
from chainlake.local.localpg import free_port
from chainlake.sdk import Context, job
from runner.phases import PHASES

RUNS = 240
TASK_SLOTS = 1
ROUND_TIMEOUT = 180.0
WAIT_SECONDS = 0.05
RUNNER_COUNTS = (1, 2, 4)
PHASE_LINE = re.compile(r"attempt phases run=\S+ (.*?)\"")


@job
def wait50(ctx: Context) -> None:
    time.sleep(WAIT_SECONDS)  # the I/O a real service job waits on (an RPC, an API)
    path = ctx.output_path("ticks", "part-0.jsonl")
    path.write_text('{"ok": true}\n')
    ctx.output("ticks", uris=[path.as_uri()], rows=1, format="jsonl")


def _queue(admin: psycopg.Connection[Any]) -> None:
    """RUNS runs of wait50 queued at once (the runners are not running yet)."""
    for n in range(RUNS):
        jobs.run_job(admin, org="bench", name="wait50", params={"n": n})


def _drained(admin: psycopg.Connection[Any]) -> float:
    """Seconds from the first attempt's start to the last run's end, once all succeeded."""
    ends = time.monotonic() + ROUND_TIMEOUT
    while scalar(admin, "SELECT count(*) FROM runs.runs WHERE status = 'succeeded'") < RUNS:
        failed = scalar(admin, "SELECT count(*) FROM runs.runs WHERE status IN ('failed','dead')")
        if failed:
            raise RuntimeError(f"{failed} runs of wait50 failed")
        if time.monotonic() > ends:
            raise RuntimeError(f"the runners did not drain {RUNS} runs in {ROUND_TIMEOUT:g} s")
        time.sleep(0.05)
    return float(
        scalar(
            admin,
            "SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM runs.runs",
        )
    )


def _phases(logs: list[Path]) -> dict[str, float]:
    """The mean ms of each phase over every attempt the runners logged."""
    laps: dict[str, list[float]] = {p: [] for p in PHASES}
    for log in logs:
        for match in PHASE_LINE.finditer(log.read_text(errors="replace")):
            for pair in match.group(1).split():
                name, _, value = pair.partition("=")
                laps.setdefault(name.removesuffix("_ms"), []).append(float(value))
    return {p: round(statistics.fmean(v), 2) for p, v in laps.items() if v}


def _round(pg: Any, count: int, work: Path) -> tuple[float, dict[str, float]]:
    """A fresh database, RUNS runs queued, `count` runners started: (runs a second, phases)."""
    name = f"bench_scale_{count}"
    url = migrated_database(pg, name)
    port = free_port()
    server = threading.Thread(target=wait50.serve, args=(port,), daemon=True)
    server.start()  # a daemon: it ends with the benchmark's process
    with psycopg.connect(url, autocommit=True) as admin:
        scalar(admin, "SELECT id FROM core.create_org('bench')")
        admin.execute("SELECT core.allow_egress(%s)", (f"127.0.0.1:{port}",))
        spec = {
            "name": "wait50",
            "version": "1",
            "kind": "source",
            "launcher": {"kind": "service", "endpoint": f"http://127.0.0.1:{port}"},
            "output_datasets": ["ticks"],
            "timeout_seconds": 60,
        }
        jobs.apply_job(admin, org="bench", definition=spec)
        admin.execute("UPDATE core.quotas SET max_concurrent_runs = 1000")
        _queue(admin)
        logs = [work / f"runner-{count}-{i}.log" for i in range(count)]
        processes = []
        try:
            for i, log in enumerate(logs):
                args = ["runner", "--database-url", pg.socket_url(name, "chainlake_runner")]
                args += ["--storage-root", str(work / f"storage-{count}-{i}")]  # its own disk
                with log.open("wb") as sink:
                    processes.append(
                        started(
                            [*args, "--concurrency", str(TASK_SLOTS)], lambda: True, "runner", sink
                        )
                    )
            seconds = _drained(admin)
        finally:
            stopped(processes)
    return RUNS / seconds, _phases(logs)


def run() -> dict[str, Any]:
    throughput: dict[int, float] = {}
    phases: dict[int, dict[str, float]] = {}
    with bench_cluster() as pg, tempfile.TemporaryDirectory() as work:
        for count in RUNNER_COUNTS:
            throughput[count], phases[count] = _round(pg, count, Path(work))
    figures: dict[str, Any] = {
        "runner_scaling_4_over_1": {
            "value": round(throughput[4] / throughput[1], 2),
            "unit": "ratio",
            "note": f"goal >= 3.0: {RUNS} service jobs (each waits 50 ms), "
            f"{TASK_SLOTS} slot(s) a runner",
        },
    }
    for count in RUNNER_COUNTS:
        figures[f"runner_throughput_{count}"] = {
            "value": round(throughput[count], 1),
            "unit": "runs/s",
            "note": f"{count} runner process(es) on one queue",
        }
    for phase in PHASES:
        if phase in phases[4]:
            figures[f"runner_phase_ms_{phase}"] = {
                "value": phases[4][phase],
                "peer": phases[1].get(phase),
                "unit": "ms",
                "note": "mean per attempt with 4 runners; peer: with 1",
            }
    return figures
