"""The per-org concurrency quota holds across a runner's slots: org b, limited to one running
job, never has two at once, while org c's job runs beside them."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import psycopg

from tests.runtime import TEST_JOBS, apply, request_run, running_runner, wait_for
from tests.tenants import Tenants


def test_an_org_at_its_concurrency_quota_waits_and_others_do_not(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    admin.execute(
        "UPDATE core.quotas SET max_concurrent_runs = 1 WHERE org_id = %s", (tenants.org_ids["b"],)
    )
    for org in ("b", "c"):
        apply(tenants, tenants.user(org, "writer"), TEST_JOBS / "behave.yaml")
    with running_runner(tenants, tmp_path, concurrency=4):
        ids = [
            request_run(
                tenants, tenants.user("b", "writer"), "behave", {"do": "sleep", "seconds": 0.4}
            )["id"]
            for _ in range(3)
        ]
        ids.append(
            request_run(
                tenants, tenants.user("c", "writer"), "behave", {"do": "sleep", "seconds": 0.4}
            )["id"]
        )
        wait_for(
            lambda: (
                admin.execute(
                    "SELECT bool_and(status = 'succeeded') FROM runs.runs WHERE id = ANY(%s)",
                    (ids,),
                ).fetchone()
                == (True,)
            ),
            timeout=60,
        )
    spans = admin.execute(
        "SELECT o.name, a.started_at, a.finished_at FROM runs.attempts a "
        "JOIN core.orgs o ON o.id = a.org_id WHERE a.run_id = ANY(%s) ORDER BY a.started_at",
        (ids,),
    ).fetchall()
    b_spans = [(s, f) for org, s, f in spans if org == "b"]
    assert len(b_spans) == 3
    for (_, end), (start, _) in itertools.pairwise(b_spans):
        assert start >= end, "two of org b's runs overlapped despite its quota of one"
    (c_start,) = [s for org, s, _ in spans if org == "c"]
    assert c_start < b_spans[-1][0], "org c waited behind org b's queue"


def test_orphaned_runs_never_hold_the_quota_against_their_own_recovery(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """A run left 'running' by a dead runner stops counting once its lease expires; with a quota
    of one, it is taken over instead of being throttled forever."""
    admin.execute(
        "UPDATE core.quotas SET max_concurrent_runs = 1 WHERE org_id = %s", (tenants.org_ids["b"],)
    )
    apply(tenants, tenants.user("b", "writer"), TEST_JOBS / "behave.yaml")
    orphans = [
        request_run(tenants, tenants.user("b", "writer"), "behave", {"do": "ok"})["id"]
        for _ in range(2)
    ]
    admin.execute(
        "UPDATE runs.runs SET status = 'running', attempt = 1 WHERE id = ANY(%s)", (orphans,)
    )
    with running_runner(tenants, tmp_path, concurrency=2):
        wait_for(
            lambda: (
                admin.execute(
                    "SELECT bool_and(status = 'succeeded') FROM runs.runs WHERE id = ANY(%s)",
                    (orphans,),
                ).fetchone()
                == (True,)
            ),
            timeout=60,
        )
