"""The platform's own chain jobs, applied from jobs/system/ as they are and run by a runner like
any job: live ingest follows a chain, backfill writes its final history to cold chunks from the
node, and the archiver moves the rest of what is final from the hot tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.chain.ingest import LiveIngest
from chainlake.chain.integrity import repair
from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from chainlake.storage import LocalStore
from tests.chainkit import chain_config, stored_tip, wait_until
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


def _last_check(admin: psycopg.Connection[Any]) -> tuple[int, list[dict[str, Any]]]:
    row = admin.execute(
        "SELECT problems, first_problems FROM chain.check_reports WHERE chain_id = %s", (CHAIN,)
    ).fetchone()
    assert row is not None, "the check recorded nothing"
    return int(row[0]), list(row[1])


def _chain_check_firings(admin: psycopg.Connection[Any]) -> list[tuple[str, bool]]:
    rows = admin.execute(
        "SELECT f.vals ->> 'subject', f.cleared_at IS NOT NULL FROM alerts.firings f "
        "JOIN alerts.rules r ON r.id = f.rule_id WHERE r.name = 'chain-check' ORDER BY f.fired_at"
    ).fetchall()
    return [(str(s), bool(c)) for s, c in rows]


def test_the_scheduled_chain_check_alerts_on_a_gap_and_clears_once_repaired(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """jobs/system/chain_check as the system org runs it: a clean chain records no problem; a
    block lost from the hot tables is found, recorded and raises the chain-check system alert;
    after `chain repair` the next check is clean and the alert clears."""
    admin.execute("UPDATE alerts.rules SET enabled = false")  # the tenants' seed rules
    admin.execute("SELECT core.set_system_org('b')")
    admin.execute("SELECT alerts.install_system_rules()")
    writer = tenants.user("b", "writer")
    ingest_url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    alerts_url = tenants.cluster.url(tenants.database, "chainlake_alerts")
    storage = tmp_path / "storage"
    apply(
        tenants,
        writer,
        SYSTEM / "chain_check" / "job.yaml",
        name="check-sys",
        config={"chain_id": CHAIN},
        activation="manual",
        schedule=None,
    )
    with Anvil(free_port(), CHAIN, block_time=None) as anvil:
        RpcClient([anvil.url]).call("anvil_mine", ["0x14"])  # 20 blocks
        config = chain_config(anvil.url, finality_depth=FINALITY, chunk_size=CHUNK)
        ingest = LiveIngest(config, ingest_url, log=lambda _m: None)
        ingest.prepare()
        while ingest.step():
            pass
        ingest.close()
        with running_runner(tenants, storage, chain_database_url=ingest_url):

            def checked() -> tuple[int, list[dict[str, Any]]]:
                run = request_run(tenants, writer, "check-sys")["id"]
                assert finished(admin, run) == ("succeeded", None), "the check ran"
                return _last_check(admin)

            assert checked() == (0, []), "a clean chain"
            admin.execute("DELETE FROM chain.blocks WHERE chain_id = %s AND number = 7", (CHAIN,))
            problems, first = checked()
            assert problems >= 1 and first[0]["kind"] == "missing_blocks", first
            assert first[0]["from_block"] <= 7 <= first[0]["to_block"], first
            with psycopg.connect(alerts_url, autocommit=True) as conn:
                conn.execute("SELECT alerts.evaluate_platform()")
            assert _chain_check_firings(admin) == [(str(CHAIN), False)], "the alert fired"

            with psycopg.connect(ingest_url, autocommit=True) as conn:
                left = repair(conn, ingest_url, LocalStore(storage), config, log=lambda _m: None)
            assert left == []
            assert checked() == (0, []), "clean again after the repair"
            with psycopg.connect(alerts_url, autocommit=True) as conn:
                conn.execute("SELECT alerts.evaluate_platform()")
            assert _chain_check_firings(admin) == [(str(CHAIN), True)], "the alert cleared"


def test_a_malformed_check_report_is_refused_and_changes_nothing(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("SELECT chain.register_chain(%s, 'sys', 0, 64, 100)", (CHAIN,))
    ingest_url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    with psycopg.connect(ingest_url, autocommit=True) as conn:
        conn.execute("SELECT chain.report_check(%s, 2, %s)", (CHAIN, '[{"kind": "x"}]'))
        for count, first, says in (
            (-1, "[]", "a count, 0 or more"),
            (1, "{}", "an array of at most 20"),
            (30, json.dumps([{}] * 21), "an array of at most 20"),
        ):
            with pytest.raises(psycopg.errors.InvalidParameterValue, match=says):
                conn.execute("SELECT chain.report_check(%s, %s, %s)", (CHAIN, count, first))
    assert _last_check(admin) == (2, [{"kind": "x"}]), "the stored report is unchanged"
    with (
        tenants.login(tenants.user("a", "writer")) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT chain.report_check(%s, 0, '[]')", (CHAIN,))
