"""always_on activation: one active run at a time, restarted when it exits, with backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from tests.runtime import TEST_JOBS, apply, running_runner, runs, scalar, wait_for
from tests.tenants import Tenants


def test_an_always_on_job_is_restarted_when_it_exits(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    apply(tenants, tenants.user("b", "writer"), TEST_JOBS / "behave.yaml", activation="always_on")
    org = tenants.org_ids["b"]
    with running_runner(tenants, tmp_path, schedule_every_seconds=0.2):
        wait_for(
            lambda: len([r for r in runs(admin, org) if r["status"] == "succeeded"]) >= 2,
            timeout=30,
        )
    fired = runs(admin, org)
    assert {r["trigger"]["kind"] for r in fired} == {"always_on"}
    active = [r for r in fired if r["status"] in ("queued", "running", "retrying")]
    assert len(active) <= 1


def test_failures_back_off_and_supervisors_do_not_double_start(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    apply(tenants, tenants.user("b", "writer"), TEST_JOBS / "behave.yaml", activation="always_on")
    url = tenants.cluster.url(tenants.database, "chainlake_runner")
    org = tenants.org_ids["b"]
    with psycopg.connect(url, autocommit=True) as a, psycopg.connect(url, autocommit=True) as b:
        assert scalar(a, "SELECT jobs.supervise_always_on()") == 1
        assert scalar(b, "SELECT jobs.supervise_always_on()") == 0  # one is active already
        for _ in range(3):  # three runs in a row die
            admin.execute(
                "UPDATE runs.runs SET status = 'dead', finished_at = now() "
                "WHERE org_id = %s AND job_name = 'behave' AND status = 'queued'",
                (org,),
            )
            later = datetime.now(UTC) + timedelta(seconds=120)
            assert scalar(a, "SELECT jobs.supervise_always_on(%s)", later) == 1
        admin.execute(
            "UPDATE runs.runs SET status = 'dead', finished_at = now() "
            "WHERE org_id = %s AND status = 'queued'",
            (org,),
        )
        # four failures in a row: the next start waits 16 s, not 1 s
        soon = datetime.now(UTC) + timedelta(seconds=5)
        assert scalar(a, "SELECT jobs.supervise_always_on(%s)", soon) == 0
        later = datetime.now(UTC) + timedelta(seconds=17)
        assert scalar(a, "SELECT jobs.supervise_always_on(%s)", later) == 1
