"""M2: runner slots are fair (SECURITY.md item 22).

Two long jobs of one org filled a runner's free slots (the platform's always_on jobs held the
others, and the per-org concurrency quota of 8 exceeded the runner's capacity): acme waited
100 s+. Now the system org's jobs run in slots of their own (never a tenant's, never starved by
tenants), and a runner never gives one org all its tenant slots: another org's run starts while
the first org's long runs still run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from chainlake import jobdefs
from tests.runtime import TEST_JOBS, apply, request_run, running_runner, scalar, wait_for
from tests.tenants import Tenants

LONG = {"do": "sleep", "seconds": 15}


def running(admin: psycopg.Connection[Any], org_id: str) -> int:
    return int(
        scalar(
            admin,
            "SELECT count(*) FROM runs.runs WHERE org_id = %s AND status = 'running' "
            "AND job_name NOT LIKE 'job%%'",
            org_id,
        )
    )


def test_platform_jobs_and_one_orgs_long_runs_leave_a_slot_for_another_org(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    system = str(admin.execute("SELECT id FROM core.create_org('chainlake')").fetchone()[0])  # type: ignore[index]
    admin.execute("SELECT core.set_system_org('chainlake')")
    for name in ("ingest", "deliver"):  # the platform's always_on jobs: they never end
        spec = jobdefs.load(TEST_JOBS / "behave.yaml") | {
            "name": name,
            "activation": "always_on",
            "config": {"do": "sleep", "seconds": 120},
            "timeout_seconds": 300,
        }
        jobdefs.apply(admin, system, spec)
    org_b = tenants.org_ids["b"]
    for org in ("a", "b"):
        apply(tenants, tenants.user(org, "writer"), TEST_JOBS / "behave.yaml")
    with running_runner(tenants, tmp_path, concurrency=4):
        wait_for(lambda: running(admin, system) == 2, timeout=60)
        evil = [request_run(tenants, tenants.user("b", "writer"), "behave", LONG) for _ in "1234"]
        wait_for(lambda: running(admin, org_b) >= 2, timeout=60)
        acme = request_run(tenants, tenants.user("a", "writer"), "behave", {"do": "ok"})
        wait_for(
            lambda: (
                scalar(admin, "SELECT status FROM runs.runs WHERE id = %s", acme["id"])
                == "succeeded"
            ),
            timeout=60,
        )
        finished = scalar(
            admin,
            "SELECT count(*) FROM runs.runs WHERE id = ANY(%s) AND status <> 'running' "
            "AND status <> 'queued'",
            [r["id"] for r in evil],
        )
        assert finished == 0, "acme's run waited for one of evil's long runs to finish"
        assert running(admin, system) == 2, "the platform's jobs kept their own slots"
        assert running(admin, org_b) <= 3, "one org never holds all of a runner's tenant slots"
