"""L1: every path that queues runs on a person's behalf is held to max_queued_tasks, in stored
logic (SECURITY.md item 22).

`runs.backfill`, rerun and rerun-from-failure called `runs.enqueue` directly, bypassing the
queue quota (305 queued against a quota of 5). Now backfill, rerun, rerun-from-failure,
dead-letter replay and webhook deliveries check the quota for everything they would queue, and
a refusal queues nothing."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from chainlake import assets
from chainlake.db import call
from chainlake.errors import QuotaExceeded
from tests.runtime import TEST_JOBS, apply, request_run, scalar
from tests.tenants import Tenants


def waiting(admin: psycopg.Connection[Any], org_id: str) -> int:
    return int(
        scalar(
            admin,
            "SELECT count(*) FROM runs.runs WHERE org_id = %s AND status IN ('queued', 'retrying')",
            org_id,
        )
    )


def test_no_path_queues_past_the_quota_and_a_refusal_queues_nothing(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    org = tenants.org_ids["b"]
    writer = tenants.user("b", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml", partitions={"kind": "block_range", "size": 1})
    apply(tenants, writer, TEST_JOBS / "behave.yaml", name="hooked", activation="webhook")
    dead = request_run(tenants, writer, "behave", {"do": "crash"})
    admin.execute(
        'SELECT runs.dead_letter(r, \'{"type": "Crash"}\') FROM runs.runs r WHERE id = %s',
        (dead["id"],),
    )
    letter = scalar(admin, "SELECT id FROM runs.dead_letters WHERE run_id = %s", dead["id"])
    admin.execute(
        "UPDATE core.quotas SET max_queued_tasks = %s WHERE org_id = %s",
        (waiting(admin, org) + 5, org),
    )
    before = waiting(admin, org)
    with tenants.login(writer) as conn:
        with pytest.raises(QuotaExceeded, match="queue quota"):
            assets.backfill(conn, "b", "behaved", "0", "299")  # 300 runs against room for 5
        assert waiting(admin, org) == before, "a refused backfill queued nothing"
        assert assets.backfill(conn, "b", "behaved", "0", "4")["runs"] == 5  # exactly the room
        for sql, params in (
            ("SELECT * FROM runs.backfill(%(org)s, 'behaved', '5', '5')", {"org": org}),
            ("SELECT * FROM runs.rerun(%(run)s)", {"run": dead["id"]}),
            ("SELECT runs.rerun_failed(%(run)s)", {"run": dead["id"]}),
            ("SELECT * FROM runs.replay_dead_letter(%(org)s, %(id)s)", {"org": org, "id": letter}),
        ):
            with pytest.raises(QuotaExceeded, match="queue quota"):
                call(conn, sql, params)
    api = tenants.cluster.url(tenants.database, "chainlake_api")
    with psycopg.connect(api) as conn, pytest.raises(psycopg.errors.ConfigurationLimitExceeded):
        conn.execute("SELECT jobs.receive_webhook(%s, 'hooked', '{}', 'delivery-1')", (org,))
    assert waiting(admin, org) == before + 5
