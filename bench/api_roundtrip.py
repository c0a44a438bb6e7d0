"""A run through the API beside the same run through the local CLI's domain path, in one run.

- `api_run_roundtrip_ms` (p50, p99): `POST /v1/jobs/{org}/{name}/runs` then `GET
  /v1/runs/{run_id}?wait=...` (which answers once the run is final), with the Python client
  (chainlake.client.Client: run_job, await_run) and a user's token, for a no-op job on the
  service transport (an in-process SDK service): what `chainlake job run --wait` does through a
  profile.
- `local_run_roundtrip_ms`: the same through the domain layer on the operator's connection, as
  the local CLI's `job run --wait` does (chainlake.domain.jobs.run_job, runs.await_run: the same
  looks at the run, a statement each, with the same pauses as the API's).
- `api_over_local_ratio`: the API's p50 over the local p50 (goal <= 1.5).
- `api_get_run_ms`, `api_request_floor_ms`: where the difference goes: one GET of a run beside
  `runs.show_run` locally, and the cost of any authenticated request (`/v1/whoami`) beside
  `/health`.

Bounded: ROUNDS runs each, every run given at most RUN_TIMEOUT seconds.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg

from bench.common import (
    answers,
    bench_cluster,
    migrated_database,
    percentile,
    scalar,
    started,
    stopped,
)
from chainlake.client import Client
from chainlake.domain import jobs, runs
from chainlake.local.localpg import free_port
from chainlake.sdk import Context, job
from chainlake.tokens import issue_dev_token

ROUNDS = 100
WARMUP = 3
RUN_TIMEOUT = 30.0


@job
def noop(ctx: Context) -> None:
    ctx.metadata["ok"] = True


def _roundtrip(request: Callable[[], str], wait: Callable[[str], str]) -> float:
    start = time.perf_counter()
    state = wait(request())
    if state != "succeeded":
        raise RuntimeError(f"a run ended {state}")
    return (time.perf_counter() - start) * 1000


def _measure(request: Callable[[], str], wait: Callable[[str], str]) -> list[float]:
    for _ in range(WARMUP):
        _roundtrip(request, wait)
    return [_roundtrip(request, wait) for _ in range(ROUNDS)]


def _timed(action: Callable[[], object]) -> float:
    """The median of ROUNDS calls, in ms."""
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return percentile(samples, 50)


def run() -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    port = free_port()
    service = subprocess.Popen(
        [sys.executable, "-c", f"from bench.api_roundtrip import noop; noop.serve({port})"]
    )
    time.sleep(1.0)  # let it bind
    try:
        with bench_cluster() as pg, TemporaryDirectory() as work:
            url = migrated_database(pg, "bench_api")
            home = Path(work) / "home"
            with psycopg.connect(url, autocommit=True) as admin:
                scalar(admin, "SELECT id FROM core.create_org('bench')")
                user = admin.execute(
                    "SELECT id FROM core.create_user('w@bench.example', 'bench', 'writer')"
                ).fetchone()
                assert user is not None
                admin.execute("SELECT core.allow_egress(%s)", (f"127.0.0.1:{port}",))
                spec = {
                    "name": "noop",
                    "version": "1",
                    "kind": "source",
                    "launcher": {"kind": "service", "endpoint": f"http://127.0.0.1:{port}"},
                    "output_datasets": ["noop_out"],
                }
                jobs.apply_job(admin, org="bench", definition=spec)
                processes = [
                    started(
                        [
                            "runner",
                            "--database-url",
                            pg.socket_url("bench_api", "chainlake_runner"),
                            "--storage-root",
                            work,
                        ],
                        lambda: True,
                        "runner",
                    )
                ]
                api_port = free_port()
                api = f"http://127.0.0.1:{api_port}"
                processes.append(
                    started(
                        [
                            "api",
                            "--database-url",
                            pg.socket_url("bench_api", "chainlake_api"),
                            "--port",
                            str(api_port),
                            "--home",
                            str(home),
                        ],
                        lambda: answers(f"{api}/health"),
                        "API",
                    )
                )
                bearer = issue_dev_token(home / "dev-issuer", str(user[0]), "w@bench.example")
                client = Client(api, bearer)
                admin.execute(  # the benchmark asks more often than a person's default rate
                    "UPDATE core.quotas SET api_requests_per_minute = 100000"
                )
                try:
                    remote = _measure(
                        lambda: str(client.run_job(org="bench", name="noop")["id"]),
                        lambda run_id: str(
                            client.await_run(run_id=run_id, seconds=RUN_TIMEOUT)["status"]
                        ),
                    )
                    local = _measure(
                        lambda: str(jobs.run_job(admin, org="bench", name="noop")["id"]),
                        lambda run_id: str(
                            runs.await_run(admin, run_id=run_id, seconds=RUN_TIMEOUT)["status"]
                        ),
                    )
                    last = str(client.list_runs(limit=1)["items"][0]["id"])
                    remote_get = _timed(lambda: client.show_run(run_id=last))
                    local_get = _timed(lambda: runs.show_run(admin, run_id=last))
                    health = _timed(lambda: client.http.get("/health"))
                    whoami = _timed(lambda: client.request("GET", "/v1/whoami"))
                finally:
                    client.close()
                    stopped(processes)
    finally:
        service.terminate()
        service.wait(timeout=10)
    api_p50, local_p50 = percentile(remote, 50), percentile(local, 50)
    return {
        "api_run_roundtrip_ms": {
            "value": round(api_p50, 2),
            "p99": round(percentile(remote, 99), 2),
            "peer": round(local_p50, 2),
            "unit": "ms",
            "note": f"p50 of {ROUNDS}: POST run -> GET run succeeded, no-op service job",
        },
        "local_run_roundtrip_ms": {
            "value": round(local_p50, 2),
            "p99": round(percentile(local, 99), 2),
            "unit": "ms",
            "note": "the same through the domain layer on the operator's connection",
        },
        "api_get_run_ms": {
            "value": round(remote_get, 2),
            "peer": round(local_get, 2),
            "unit": "ms",
            "note": "p50 of one GET /v1/runs/{run_id}; peer: runs.show_run on the operator's",
        },
        "api_request_floor_ms": {
            "value": round(whoami, 2),
            "peer": round(health, 2),
            "unit": "ms",
            "note": "p50 of GET /v1/whoami (sign-in, rate charge, one statement); peer: /health",
        },
        "api_over_local_ratio": {
            "value": round(api_p50 / local_p50, 3),
            "unit": "ratio",
            "note": "goal <= 1.5",
        },
    }
