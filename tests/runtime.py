"""Helpers for tests of the job runtime: apply definitions, run runners in threads, wait."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from chainlake import jobdefs
from runner.worker import Runner, RunnerConfig
from tests.tenants import Tenants, User

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "jobs" / "examples"
TEST_JOBS = REPO / "tests" / "jobs"
T = TypeVar("T")


def apply(tenants: Tenants, user: User, path: Path, **overrides: Any) -> dict[str, Any]:
    spec = {k: v for k, v in (jobdefs.load(path) | overrides).items() if v is not None}
    with tenants.login(user) as conn:
        return jobdefs.apply(conn, tenants.org_ids[user.org], spec)


def request_run(
    tenants: Tenants,
    user: User,
    job: str,
    params: dict[str, Any] | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    import json

    with tenants.login(user) as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM runs.request(%s, %s, %s, p_idempotency_key => %s)",
            (tenants.org_ids[user.org], job, json.dumps(params or {}), key),
        ).fetchone()
    assert row is not None
    return row


def runs(admin: psycopg.Connection[Any], org_id: str) -> list[dict[str, Any]]:
    with admin.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            # the tenants fixture's seed rows are named job_*: leave them out
            "SELECT * FROM runs.runs WHERE org_id = %s AND job_name NOT LIKE 'job%%' "
            "ORDER BY created_at",
            (org_id,),
        ).fetchall()


def scalar(conn: psycopg.Connection[Any], sql: str, *params: Any) -> Any:
    """The first column of the first row, or None."""
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def wait_for(probe: Callable[[], T | None], timeout: float = 60, every: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; bounded in time."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up after {timeout}s waiting for {probe}")


# a job of the contract that says one line, then sleeps ten minutes (a container to outlive)
TALKS_THEN_SLEEPS = "import sys, time; sys.stdin.read(); print('{}', flush=True); time.sleep(600)"


@contextmanager
def killed_runner(tenants: Tenants, storage: Path, *options: str) -> Iterator[None]:
    """`python -m runner` serving this test's database as a process of its own, killed
    (SIGKILL: no drain, nothing cleaned up) when the block exits: a runner that dies."""
    url = tenants.cluster.url(tenants.database, "chainlake_runner")
    argv = [sys.executable, "-m", "runner", "--database-url", url, "--storage-root", str(storage)]
    proc = subprocess.Popen(
        [*argv, *options], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@contextmanager
def running_runner(tenants: Tenants, storage: Path, **options: Any) -> Iterator[Runner]:
    """A runner serving this test's database in a background thread, drained at the end."""
    url = tenants.cluster.url(tenants.database, "chainlake_runner")
    runner = Runner(RunnerConfig(url, storage, **options))
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        runner.stopping.set()
        thread.join(timeout=60)
