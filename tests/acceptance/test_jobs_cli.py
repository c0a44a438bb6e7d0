"""Jobs through the real CLI and real runner processes: apply the example DAG, run it and wait,
read its history and logs; SIGKILL a runner mid-job and let another finish it, with exactly one
result; dead letters listed and replayed."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from tests.acceptance.cli import run
from tests.acceptance.conftest import ok, start_runner
from tests.runtime import EXAMPLES, TEST_JOBS, scalar, wait_for


def test_the_example_dag_through_the_cli(
    env: dict[str, str], runners: list[subprocess.Popen[str]]
) -> None:
    for name in ("numbers", "double", "js_sum"):
        out = ok(
            "job",
            "apply",
            str(EXAMPLES / name / "job.yaml"),
            "--org",
            "acme",
            "--as",
            "ann@acme.example",
            env=env,
        )
        assert f"applied job {name} version 1" in out
    start_runner(env, runners)
    out = ok(
        "job",
        "run",
        "numbers",
        "--org",
        "acme",
        "--param",
        "count=4",
        "--wait",
        "--as",
        "ann@acme.example",
        env=env,
    )
    assert "succeeded" in out
    listed = wait_for(
        lambda: (lambda rows: rows if sum(r["status"] == "succeeded" for r in rows) == 3 else None)(
            json.loads(ok("run", "list", "--json", env=env))
        )
    )
    sum_run = next(r for r in listed if r["job_name"] == "js_sum")
    shown = json.loads(ok("run", "show", sum_run["id"], "--json", env=env))
    assert shown["metadata"] == {"total": 20} and shown["trigger"]["kind"] == "reactive"
    assert [a["status"] for a in shown["attempts"]] == ["succeeded"]
    numbers = next(r for r in listed if r["job_name"] == "numbers")
    assert "writing 4 numbers" in ok("run", "logs", numbers["id"], env=env)
    text = ok("run", "show", numbers["id"], env=env)
    assert "ann@acme.example" in text and '"count": 4' in text


def test_an_invalid_definition_names_the_field_and_changes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: leaky\nversion: '1'\nkind: reactive\ninput_datasets: [x]\n"
        "network: [example.org]\nlauncher: {kind: process, command: [python3]}\n"
    )
    result = run("job", "apply", str(bad), "--org", "acme", env=env)
    assert result.returncode == 2
    assert "invalid job definition: network" in result.stderr
    assert "leaky" not in ok("job", "list", env=env)


def test_a_runner_killed_mid_job_loses_nothing_and_commits_once(
    env: dict[str, str], runners: list[subprocess.Popen[str]], admin: psycopg.Connection[Any]
) -> None:
    ok("job", "apply", str(TEST_JOBS / "behave.yaml"), "--org", "acme", env=env)
    first = start_runner(env, runners, lease=2)
    queued = ok(
        "job",
        "run",
        "behave",
        "--org",
        "acme",
        "--param",
        "do=sleep",
        "--param",
        "seconds=2",
        env=env,
    ).split()[2]
    wait_for(
        lambda: scalar(admin, "SELECT status = 'running' FROM runs.runs WHERE id = %s", queued)
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    start_runner(env, runners, lease=2)
    done = wait_for(
        lambda: admin.execute(
            "SELECT status, attempt FROM runs.runs WHERE id = %s AND status IN "
            "('succeeded', 'dead')",
            (queued,),
        ).fetchone(),
        timeout=90,
    )
    assert tuple(done) == ("succeeded", 2)
    attempts = admin.execute(
        "SELECT attempt, status FROM runs.attempts WHERE run_id = %s ORDER BY attempt", (queued,)
    ).fetchall()
    assert [tuple(a) for a in attempts] == [(1, "lost"), (2, "succeeded")]
    assert admin.execute("SELECT count(*) FROM pgmq.q_run_tasks").fetchone() == (0,)


def test_dead_letters_are_listed_and_replayed(
    env: dict[str, str], runners: list[subprocess.Popen[str]]
) -> None:
    ok("job", "apply", str(TEST_JOBS / "behave.yaml"), "--org", "acme", env=env)
    start_runner(env, runners)
    result = run(
        "job", "run", "behave", "--org", "acme", "--param", "do=undeclared", "--wait", env=env
    )
    assert result.returncode == 1 and "OutputRejected" in result.stderr
    (letter,) = json.loads(ok("deadletter", "list", "--json", env=env))
    assert letter["error_type"] == "OutputRejected" and letter["replay_run_id"] is None
    out = ok("deadletter", "replay", str(letter["id"]), "--org", "acme", env=env)
    assert "as run" in out
    again = run("deadletter", "replay", str(letter["id"]), "--org", "acme", env=env)
    assert again.returncode == 4 and "already replayed" in again.stderr
