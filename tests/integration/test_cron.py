"""Cron activation: a schedule fires once per tick, even with several schedulers at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from runner.scheduler import fire_due
from tests.runtime import TEST_JOBS, apply, running_runner, runs, scalar, wait_for
from tests.tenants import Tenants


def test_two_schedulers_fire_each_tick_once(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    apply(
        tenants,
        tenants.user("b", "writer"),
        TEST_JOBS / "behave.yaml",
        activation="cron",
        schedule="*/5 * * * *",
    )
    tick = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    admin.execute("UPDATE jobs.schedules SET next_fire_at = %s WHERE job_name = 'behave'", (tick,))
    url = tenants.cluster.url(tenants.database, "chainlake_runner")
    now = tick + timedelta(minutes=12)  # 03:00, 03:05, 03:10 are due: only 03:10 fires
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def scheduler() -> None:
        with psycopg.connect(url) as conn:
            barrier.wait()
            counts.append(fire_due(conn, now))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    fired = runs(admin, tenants.org_ids["b"])
    assert sum(counts) == 1
    assert [r["idempotency_key"] for r in fired] == ["cron:behave:2026-11-27T03:10:00"]
    assert fired[0]["trigger"]["kind"] == "cron"
    next_fire = scalar(admin, "SELECT next_fire_at FROM jobs.schedules WHERE job_name = 'behave'")
    assert next_fire == datetime(2026, 11, 27, 3, 15, tzinfo=UTC)
    assert fire_due(psycopg.connect(url), now) == 0  # nothing due until 03:15


def test_a_runner_fires_and_runs_a_due_schedule(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    apply(
        tenants,
        tenants.user("b", "writer"),
        TEST_JOBS / "behave.yaml",
        activation="cron",
        schedule="0 0 1 1 *",
    )
    admin.execute(
        "UPDATE jobs.schedules SET next_fire_at = now() - interval '1 second' "
        "WHERE job_name = 'behave'"
    )
    with running_runner(tenants, tmp_path):
        wait_for(
            lambda: [r for r in runs(admin, tenants.org_ids["b"]) if r["status"] == "succeeded"]
        )
    (run,) = runs(admin, tenants.org_ids["b"])
    assert run["trigger"]["kind"] == "cron"
