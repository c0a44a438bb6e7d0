"""Faults the runtime must survive: a crash keeps its stack trace, a hang is killed at its
timeout, transient failures are retried, a poison task ends in the dead letter (replayable),
outputs outside the contract are rejected, a duplicate delivery changes nothing, and a sandboxed
job cannot open a TCP connection unless it declares network access."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from runner.worker import Runner
from tests.runtime import TEST_JOBS, apply, request_run, running_runner, runs, scalar, wait_for
from tests.tenants import Tenants

FINAL = ("succeeded", "failed", "dead")


@pytest.fixture
def runner(tenants: Tenants, tmp_path: Path) -> Iterator[Runner]:
    with running_runner(tenants, tmp_path, concurrency=3, lease_seconds=5) as started:
        yield started


def run_to_end(
    tenants: Tenants, admin: psycopg.Connection[Any], name: str, timeout: float = 60, **params: Any
) -> dict[str, Any]:
    run = request_run(tenants, tenants.user("b", "writer"), name, params)

    def finished() -> dict[str, Any] | None:
        with admin.cursor(row_factory=dict_row) as cur:
            row = cur.execute("SELECT * FROM runs.runs WHERE id = %s", (run["id"],)).fetchone()
        return row if row and row["status"] in FINAL else None

    return wait_for(finished, timeout)


def define(tenants: Tenants, **overrides: Any) -> None:
    apply(tenants, tenants.user("b", "writer"), TEST_JOBS / "behave.yaml", **overrides)


def attempts(admin: psycopg.Connection[Any], run_id: Any) -> list[tuple[int, str]]:
    return [
        tuple(r)
        for r in admin.execute(
            "SELECT attempt, status FROM runs.attempts WHERE run_id = %s ORDER BY attempt",
            (run_id,),
        )
    ]


def test_a_crash_is_dead_lettered_with_its_stack_trace(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    define(tenants, retries={"max_attempts": 2, "backoff_seconds": 0})
    run = run_to_end(tenants, admin, "behave", do="crash")
    assert run["status"] == "dead"
    assert run["error"]["type"] == "ValueError"
    assert run["error"]["message"] == "boom: the job crashed on purpose"
    assert 'raise ValueError("boom' in run["error"]["stack"]
    assert attempts(admin, run["id"]) == [(1, "failed"), (2, "failed")]
    (letter,) = admin.execute(
        "SELECT attempts, error ->> 'type' FROM runs.dead_letters WHERE run_id = %s", (run["id"],)
    ).fetchall()
    assert tuple(letter) == (2, "ValueError")


def test_an_exit_without_a_result_keeps_stderr(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    define(tenants, retries={"max_attempts": 1})
    run = run_to_end(tenants, admin, "behave", do="exit")
    assert run["error"]["type"] == "ExitCode"
    assert "exited with code 3" in run["error"]["message"]
    assert "something went badly wrong" in run["error"]["stack"]


def test_a_hang_is_killed_at_its_timeout(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    define(tenants, timeout_seconds=1, retries={"max_attempts": 1})
    run = run_to_end(tenants, admin, "behave", do="hang")
    assert run["status"] == "dead"
    assert run["error"]["type"] == "Timeout"
    assert "past its timeout_seconds" in run["error"]["message"]


def test_transient_failures_are_retried_until_success(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    define(tenants, retries={"max_attempts": 3, "backoff_seconds": 0.01})
    run = run_to_end(tenants, admin, "behave", do="fail_until_attempt", attempt=3)
    assert run["status"] == "succeeded"
    assert attempts(admin, run["id"]) == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    logs = admin.execute(
        "SELECT count(*) FROM runs.logs WHERE run_id = %s", (run["id"],)
    ).fetchone()
    assert logs is not None and logs[0] >= 3


def test_a_poison_task_is_dead_lettered_and_replayable(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    define(tenants, retries={"max_attempts": 2, "backoff_seconds": 0})
    run = run_to_end(tenants, admin, "behave", do="fail_until_attempt", attempt=99)
    assert run["status"] == "dead"
    (letter_id,) = admin.execute(
        "SELECT id FROM runs.dead_letters WHERE run_id = %s", (run["id"],)
    ).fetchone() or (None,)
    with tenants.login(tenants.user("a", "admin")) as conn, pytest.raises(psycopg.Error):
        conn.execute("SELECT runs.replay_dead_letter(%s, %s)", (tenants.org_ids["b"], letter_id))
    with tenants.login(tenants.user("b", "writer")) as conn:
        replay = conn.execute(
            "SELECT (runs.replay_dead_letter(%s, %s)).id", (tenants.org_ids["b"], letter_id)
        ).fetchone()
    assert replay is not None
    replayed = wait_for(
        lambda: admin.execute(
            "SELECT status, trigger ->> 'kind' FROM runs.runs WHERE id = %s AND status = 'dead'",
            (replay[0],),
        ).fetchone()
    )
    assert tuple(replayed) == ("dead", "replay")


@pytest.mark.parametrize(
    ("do", "message"),
    [
        ("undeclared", "output for undeclared dataset 'not_mine'"),
        ("outside", "is outside the run's prefix"),
        ("phantom", "does not exist (the job reported a file it did not write)"),
    ],
)
def test_outputs_outside_the_contract_are_rejected(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner, do: str, message: str
) -> None:
    define(tenants)
    run = run_to_end(tenants, admin, "behave", do=do)
    assert run["status"] == "dead"  # not retryable: the same code would do it again
    assert run["error"]["type"] == "OutputRejected" and message in run["error"]["message"]
    assert attempts(admin, run["id"]) == [(1, "failed")]


def test_a_duplicate_delivery_creates_no_second_result(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    define(tenants)
    run = run_to_end(tenants, admin, "behave", do="ok")
    admin.execute(
        "SELECT pgmq.send('run_tasks', %s::jsonb)",
        (f'{{"run_id": "{run["id"]}", "org_id": "{run["org_id"]}"}}',),
    )
    wait_for(lambda: scalar(admin, "SELECT count(*) = 0 FROM pgmq.q_run_tasks"))
    assert attempts(admin, run["id"]) == [(1, "succeeded")]
    assert [r["id"] for r in runs(admin, tenants.org_ids["b"])] == [run["id"]]


def test_the_same_idempotency_key_never_makes_a_second_run(tenants: Tenants) -> None:
    define(tenants)
    writer = tenants.user("b", "writer")
    first = request_run(tenants, writer, "behave", {"do": "ok"}, key="nightly-2026-11-27")
    second = request_run(tenants, writer, "behave", {"do": "ok"}, key="nightly-2026-11-27")
    assert first["id"] == second["id"]


def test_a_sandboxed_job_cannot_connect_without_an_allow_list(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner, listening_port: int
) -> None:
    define(tenants, retries={"max_attempts": 1})
    run = run_to_end(tenants, admin, "behave", do="connect", port=listening_port)
    assert run["status"] == "dead"
    assert run["error"]["type"] in ("OSError", "ConnectionRefusedError", "TimeoutError")
    admin.execute("SELECT core.allow_egress(%s)", (f"127.0.0.1:{listening_port}",))
    network = [f"127.0.0.1:{listening_port}"]  # reached through the run's egress proxy
    define(tenants, version="2", network=network, retries={"max_attempts": 1})
    run = run_to_end(tenants, admin, "behave", do="connect", port=listening_port)
    assert run["status"] == "succeeded"


def test_a_definition_written_around_the_cli_fails_its_run_clearly(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    """A writer may insert a definition by SQL; if it breaks the schema, its runs fail at once
    with the reason instead of looping."""
    with tenants.login(tenants.user("b", "writer")) as conn:
        conn.execute(
            "INSERT INTO jobs.definitions (org_id, name, version, spec) VALUES "
            "(%s, 'broken', '1', '{\"kind\": \"source\"}')",
            (tenants.org_ids["b"],),
        )
    run = run_to_end(tenants, admin, "broken")
    assert run["status"] == "dead" and run["error"]["type"] == "DefinitionError"
    assert "is a required property" in run["error"]["message"]


def test_a_caller_cannot_hand_a_run_files_by_uri(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """Inputs name versions of the org's own datasets; URIs come from the catalog, so a writer of
    b cannot point a run at org a's files (or the host's)."""
    define(tenants)
    writer = tenants.user("b", "writer")
    forged = [{"dataset": "ds_a_seed", "version": 1, "uris": ["file:///etc/passwd"]}]
    with (
        tenants.login(writer) as conn,
        pytest.raises(psycopg.errors.UndefinedObject, match="unknown input"),
    ):
        conn.execute(
            "SELECT runs.request(%s, 'behave', '{}', p_inputs => %s)",
            (tenants.org_ids["b"], json.dumps(forged)),
        )
    assert runs(admin, tenants.org_ids["b"]) == []


def test_the_runner_refuses_inputs_outside_the_orgs_storage(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """Defence in depth: even a run whose stored inputs were tampered with (here by the
    operator) never mounts or hands over files outside its org's storage tree."""
    define(tenants)
    run = request_run(tenants, tenants.user("b", "writer"), "behave", {"do": "sleep", "seconds": 0})
    admin.execute(
        "UPDATE runs.runs SET inputs = %s WHERE id = %s",
        (json.dumps([{"dataset": "x", "uris": ["file:///etc/passwd"]}]), run["id"]),
    )
    with running_runner(tenants, tmp_path):  # started only after the tampering
        done = wait_for(
            lambda: scalar(
                admin, "SELECT error FROM runs.runs WHERE id = %s AND status = 'dead'", run["id"]
            )
        )
    assert done["type"] == "InputRejected" and "file:///etc/passwd" in done["message"]


def test_a_version_past_the_storage_quota_fails_the_run_and_keeps_the_current_one(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    """core.quotas.storage_bytes counts every kept version's bytes; a new version past it fails
    its run (QuotaExceeded, not retried) and the dataset keeps its current version."""
    define(tenants)
    org = tenants.org_ids["b"]
    first = run_to_end(tenants, admin, "behave", do="stored once")
    assert first["status"] == "succeeded", first["error"]
    current = "SELECT current_version FROM catalog.datasets WHERE org_id = %s AND name = 'behaved'"
    kept = scalar(admin, current, org)
    used = scalar(admin, "SELECT sum(bytes) FROM catalog.asset_versions WHERE org_id = %s", org)
    admin.execute("UPDATE core.quotas SET storage_bytes = %s WHERE org_id = %s", (used, org))
    try:
        over = run_to_end(tenants, admin, "behave", do="one version too many")
        assert over["status"] == "dead", over
        assert over["error"]["type"] == "QuotaExceeded"
        assert "storage quota" in over["error"]["message"]
        assert "storage_bytes" in over["error"]["hint"]
        assert attempts(admin, over["id"]) == [(1, "failed")]  # not retried
        assert scalar(admin, current, org) == kept
    finally:
        admin.execute(
            "UPDATE core.quotas SET storage_bytes = 107374182400 WHERE org_id = %s", (org,)
        )
    again = run_to_end(tenants, admin, "behave", do="room again")
    assert again["status"] == "succeeded", again["error"]
    assert scalar(admin, current, org) == kept + 1


def test_a_runner_outlives_its_database_connections_being_cut(
    tenants: Tenants, admin: psycopg.Connection[Any], runner: Runner
) -> None:
    """A Postgres restart or a failover cuts every connection of a runner (its LISTEN connection
    and its pool's): the runner connects again and serves the next run, it does not exit."""
    define(tenants)
    assert run_to_end(tenants, admin, "behave", do="succeed")["status"] == "succeeded"
    cut = admin.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE usename = 'chainlake_runner' AND datname = current_database()"
    ).fetchone()
    assert cut and cut[0] >= 1, "the runner's connections were there to cut"
    assert run_to_end(tenants, admin, "behave", do="succeed")["status"] == "succeeded"
