"""What a newcomer meets before the tour: `--version`, shell completion, `chainlake doctor`, and
`up` refusing bad ground (a port in use, a data directory of another PostgreSQL) with one line
naming it and the fix, leaving nothing half-started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.cli import run
from tests.acceptance.test_stack import postgres_processes_for, processes_matching

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home() -> Iterator[dict[str, str]]:
    base = tempfile.mkdtemp(prefix="chainlake-first-")
    os.chmod(base, 0o755)  # noqa: S103 - the postgres OS user must reach it
    env = {"CHAINLAKE_HOME": str(Path(base) / ".chainlake"), "CHAINLAKE_DATABASE_URL": ""}
    try:
        yield env
    finally:
        run("down", env=env)


def nothing_runs_for(home: dict[str, str]) -> None:
    status = json.loads(run("status", "--json", env=home).stdout)
    states = {c["name"]: c["state"] for c in status["components"]}
    assert all(state != "up" for state in states.values()), states
    assert not processes_matching(home["CHAINLAKE_HOME"])
    assert not postgres_processes_for(str(Path(home["CHAINLAKE_HOME"]).resolve()))


def test_version_is_the_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = run("--version", env={})
    assert result.returncode == 0 and result.stdout.strip() == f"chainlake {version}"


def test_shell_completion_script_and_completions() -> None:
    script = run("completion", "bash", env={})
    assert script.returncode == 0 and "_CHAINLAKE_COMPLETE=bash_complete" in script.stdout
    # what bash asks the script for when the user types `chainlake as<TAB>`
    answer = run(
        env={
            "_CHAINLAKE_COMPLETE": "bash_complete",
            "COMP_WORDS": "chainlake as",
            "COMP_CWORD": "1",
        },
    )
    assert "plain,asset" in answer.stdout.splitlines(), answer.stdout
    refused = run("completion", "tcsh", env={})
    assert refused.returncode == 2 and "'tcsh' is not one of" in refused.stderr


def test_doctor_passes_here_and_names_a_missing_binary_with_its_fix(
    home: dict[str, str],
) -> None:
    fine = run("doctor", "--json", env=home)
    checks = {c["name"]: c for c in json.loads(fine.stdout)}
    assert fine.returncode == 0, fine.stdout
    for name in ("postgres binaries", "psql", "node tools", "ports", "data directory"):
        assert checks[name]["state"] == "ok", checks[name]

    broken = run("doctor", env={**home, "CHAINLAKE_PG_BINDIR": "/nonexistent/bin"})
    assert broken.returncode == 1
    line = next(x for x in broken.stdout.splitlines() if "postgres binaries" in x)
    assert line.startswith("fail") and "/nonexistent/bin" in line
    assert "fix: install PostgreSQL" in broken.stdout


def test_up_on_a_port_in_use_says_so_and_leaves_nothing_running(home: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = {**home, "CHAINLAKE_DEVCHAIN_PORT": str(port)}
        doctor = run("doctor", env=env)
        assert doctor.returncode == 1 and f"port {port} (CHAINLAKE_DEVCHAIN_PORT) is in use" in (
            doctor.stdout
        )
        up = run("up", env=env, timeout=300)
    assert up.returncode != 0
    assert up.stderr.splitlines()[0] == f"error: port {port} (CHAINLAKE_DEVCHAIN_PORT) is in use"
    assert "unset CHAINLAKE_DEVCHAIN_PORT" in up.stderr
    nothing_runs_for(home)


def test_up_on_a_data_directory_of_another_version_says_so(home: dict[str, str]) -> None:
    data = Path(home["CHAINLAKE_HOME"]) / "pg" / "data"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("9.6\n")
    up = run("up", env=home, timeout=120)
    assert up.returncode != 0
    first = up.stderr.splitlines()[0]
    assert first.startswith(f"error: the data directory {data} was made by PostgreSQL 9.6")
    assert "CHAINLAKE_PG_BINDIR" in up.stderr
    assert (data / "PG_VERSION").read_text() == "9.6\n", "what was there is untouched"
    doctor = run("doctor", env=home)
    assert doctor.returncode == 1 and "made by PostgreSQL 9.6" in doctor.stdout
    nothing_runs_for(home)


def test_a_second_bootstrap_changes_nothing() -> None:
    """`make up` while the stack runs must not re-link packages under running commands."""
    venv = ROOT / ".venv"
    watched = [
        venv / "pyvenv.cfg",
        *sorted((venv / "lib").glob("python3*/site-packages/psycopg/pq/misc.py")),
    ]
    watched.append(ROOT / "tools" / "node_modules" / ".bin" / "anvil")
    before = {p: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in watched}
    assert len(before) == 3
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "installing" not in done.stdout + done.stderr
    after = {p: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in watched}
    assert after == before
