"""`chainlake up` / `status` / `psql` / `down` on the embedded defaults, as `make up` runs them:
a fresh cluster under CHAINLAKE_HOME, reused by a second `up`, and nothing left running after
`down`."""

from __future__ import annotations

import json
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.cli import run
from tests.runtime import wait_for


def postgres_processes_for(data_dir: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "postgres" in cmdline and data_dir in cmdline:
            pids.append(int(entry.name))
    return pids


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http
            return int(response.status)
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def home() -> Iterator[dict[str, str]]:
    base = tempfile.mkdtemp(prefix="chainlake-home-")
    os.chmod(base, 0o755)  # noqa: S103 - the postgres OS user must reach it
    env = {"CHAINLAKE_HOME": str(Path(base) / ".chainlake"), "CHAINLAKE_DATABASE_URL": ""}
    try:
        yield env
    finally:
        run("down", env=env)


def test_up_status_psql_second_up_and_down(home: dict[str, str]) -> None:
    first = run("up", env=home, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "chainlake is up" in first.stdout and "127.0.0.1:" in first.stdout

    status = json.loads(run("status", "--json", env=home).stdout)
    (pg,) = [c for c in status["components"] if c["name"] == "postgres"]
    assert pg["state"] == "up" and pg["address"].startswith("127.0.0.1:")
    (runner,) = [c for c in status["components"] if c["name"] == "runner"]
    assert runner["state"] == "up" and alive(runner["pid"])
    (api,) = [c for c in status["components"] if c["name"] == "api"]
    assert api["state"] == "up" and api["address"].startswith("127.0.0.1:")
    wait_for(lambda: _get(f"{api['url']}/health") == 200, timeout=30)
    assert run("psql", "-At", "-c", "select 1", env=home).stdout.strip() == "1"
    assert run("org", "create", "keepme", env=home).returncode == 0

    second = run("up", env=home, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "migrations up to date" in second.stdout
    assert "keepme" in run("org", "list", env=home).stdout

    data_dir = pg["socket"]
    assert postgres_processes_for(data_dir)
    down = run("down", env=home)
    assert down.returncode == 0 and "api, runner, postgres" in down.stdout
    assert postgres_processes_for(data_dir) == []
    assert not alive(runner["pid"]) and not alive(api["pid"])
    status = json.loads(run("status", "--json", env=home).stdout)
    assert status["components"][0]["state"] == "down"
    result = run("psql", "-c", "select 1", env=home)
    assert result.returncode != 0
    assert "the embedded Postgres is not running" in result.stderr
