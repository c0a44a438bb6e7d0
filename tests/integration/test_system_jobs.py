"""The platform's own chain jobs, applied from jobs/system/ as they are and run by a runner like
any job: live ingest follows a chain, backfill writes its final history to cold chunks from the
node, and the archiver moves the rest of what is final from the hot tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from tests.chainkit import stored_tip, wait_until
from tests.runtime import REPO, apply, request_run, running_runner
from tests.tenants import Tenants

SYSTEM = REPO / "jobs" / "system"
CHAIN = 31337
FINALITY = 16
CHUNK = 10


def chain_settings(url: str) -> dict[str, Any]:
    return {
        "chain_id": CHAIN,
        "name": "sys",
        "rpc_urls": [url],
        "finality_depth": FINALITY,
        "use_finalized_tag": False,
        "chunk_size": CHUNK,
        "batch_blocks": 20,
    }


def finished(admin: psycopg.Connection[Any], run_id: str) -> tuple[str, Any]:
    """The run's end: its status and error."""

    def status() -> tuple[str, Any] | None:
        row = admin.execute("SELECT status, error FROM runs.runs WHERE id = %s", (run_id,))
        found = row.fetchone()
        return (str(found[0]), found[1]) if found and found[0] in ("succeeded", "dead") else None

    wait_until(lambda: status() is not None, 60, f"run {run_id}")
    ended = status()
    assert ended is not None
    return ended


def chunks(admin: psycopg.Connection[Any]) -> list[tuple[int, int, str]]:
    rows = admin.execute(
        "SELECT from_block, to_block, source FROM chain.chunks WHERE chain_id = %s "
        "ORDER BY from_block",
        (CHAIN,),
    ).fetchall()
    return [(int(a), int(b), str(c)) for a, b, c in rows]


def test_ingest_backfill_and_archive_from_jobs_system_run_under_the_runner(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    admin.execute("SELECT core.set_system_org('b')")
    writer = tenants.user("b", "writer")
    with Anvil(free_port(), CHAIN, block_time=0.05) as anvil:
        settings = chain_settings(anvil.url)
        for folder, overrides in (
            ("ingest", {"config": {"chain": settings}}),
            ("backfill", {"config": {"chain": settings}}),
            ("archive", {"config": {"chain_id": CHAIN}, "activation": "manual", "schedule": None}),
        ):
            apply(tenants, writer, SYSTEM / folder / "job.yaml", name=f"{folder}-sys", **overrides)
        ingest_url = tenants.cluster.url(tenants.database, "chainlake_ingest")
        with running_runner(
            tenants,
            tmp_path / "storage",
            chain_database_url=ingest_url,
            schedule_every_seconds=0.2,
        ):
            # always_on: the runner starts live ingest by itself
            wait_until(lambda: stored_tip(admin, CHAIN) >= 4 * CHUNK + FINALITY, 60, "ingest")
            params = {"from_block": 0, "to_block": 2 * CHUNK - 1}
            backfill = request_run(tenants, writer, "backfill-sys", params)["id"]
            assert finished(admin, backfill) == ("succeeded", None)
            assert chunks(admin) == [(0, 9, "rpc"), (10, 19, "rpc")]
            archive = request_run(tenants, writer, "archive-sys")["id"]
            assert finished(admin, archive) == ("succeeded", None)
    archived = chunks(admin)
    assert [c[2] for c in archived[:2]] == ["rpc", "rpc"]
    assert len(archived) >= 4 and {c[2] for c in archived[2:]} == {"archive"}
    assert [c[0] for c in archived] == list(range(0, CHUNK * len(archived), CHUNK))  # contiguous
