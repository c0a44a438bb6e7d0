"""Real runner processes: SIGTERM drains (the running job finishes, nothing new starts), and a
ledger test that kills runners with SIGKILL at random points: every task completes, none is
lost, and duplicated attempts are counted and harmless (SECURITY.md, queues and crashes)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.runtime import TEST_JOBS, apply, request_run, scalar, wait_for
from tests.tenants import Tenants


class Runners:
    def __init__(self, tenants: Tenants, storage: Path) -> None:
        self.url = tenants.cluster.url(tenants.database, "chainlake_runner")
        self.storage = storage
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, lease: int = 2) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner",
                "--database-url",
                self.url,
                "--storage-root",
                str(self.storage),
                "--lease-seconds",
                str(lease),
                "--concurrency",
                "4",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def runners(tenants: Tenants, tmp_path: Path) -> Iterator[Runners]:
    started = Runners(tenants, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def status(admin: psycopg.Connection[Any], run_id: Any) -> Any:
    return scalar(admin, "SELECT status FROM runs.runs WHERE id = %s", run_id)


def test_sigterm_drains_the_running_job_and_takes_no_new_one(
    tenants: Tenants, admin: psycopg.Connection[Any], runners: Runners
) -> None:
    writer = tenants.user("b", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml")
    proc = runners.start(lease=30)
    slow = request_run(tenants, writer, "behave", {"do": "sleep", "seconds": 1.5})
    wait_for(lambda: status(admin, slow["id"]) == "running")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    later = request_run(tenants, writer, "behave", {"do": "ok"})
    assert proc.wait(timeout=30) == 0
    assert status(admin, slow["id"]) == "succeeded"
    assert status(admin, later["id"]) == "queued"


def test_ledger_with_runners_killed_at_random(
    tenants: Tenants, admin: psycopg.Connection[Any], runners: Runners
) -> None:
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        TEST_JOBS / "behave.yaml",
        retries={"max_attempts": 20, "backoff_seconds": 0},
    )
    ledger = [
        request_run(tenants, writer, "behave", {"do": "sleep", "seconds": 0.2})["id"]
        for _ in range(40)
    ]
    chaos = random.Random(20261127)
    for _ in range(2):
        runners.start()
    ends = time.monotonic() + 20
    kills = 0
    while time.monotonic() < ends and kills < 6:
        time.sleep(chaos.uniform(0.3, 1.5))
        alive = [p for p in runners.procs if p.poll() is None]
        victim = chaos.choice(alive)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        kills += 1
        runners.start()

    def all_final() -> bool:
        return bool(
            scalar(
                admin,
                "SELECT bool_and(status IN ('succeeded', 'dead')) "
                "FROM runs.runs WHERE id = ANY(%s)",
                ledger,
            )
        )

    wait_for(all_final, timeout=120, every=0.2)
    rows = admin.execute(
        "SELECT r.status, (SELECT count(*) FROM runs.attempts a WHERE a.run_id = r.id "
        "AND a.status = 'succeeded'), r.attempt FROM runs.runs r WHERE r.id = ANY(%s)",
        (ledger,),
    ).fetchall()
    assert len(rows) == len(ledger)
    assert {r[0] for r in rows} == {"succeeded"}, "a task was lost or dead-lettered"
    assert all(r[1] == 1 for r in rows), "a run committed more than one result"
    duplicates = sum(r[2] - 1 for r in rows)
    print(f"ledger: {len(ledger)} tasks, {kills} runners killed, {duplicates} repeated attempts")
    # A duplicate delivery (a task read by a runner that was killed before it acknowledged it)
    # is harmless: when it reappears after its lease, a runner finds the run finished and
    # archives it. So the queue drains, bounded in time.
    leftover_sql = (
        "SELECT q.msg_id, q.read_ct, q.vt, r.status FROM pgmq.q_run_tasks q "
        "LEFT JOIN runs.runs r ON r.id = (q.message ->> 'run_id')::uuid"
    )
    try:
        wait_for(lambda: scalar(admin, "SELECT count(*) = 0 FROM pgmq.q_run_tasks"), timeout=30)
    except AssertionError:
        raise AssertionError(f"tasks left: {admin.execute(leftover_sql).fetchall()}") from None
