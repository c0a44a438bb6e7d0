"""Fixtures for acceptance tests that drive the real CLI against this test's database."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.cli import CHAINLAKE, run
from tests.harness import TestCluster


@pytest.fixture
def env(cluster: TestCluster, database: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A CLI environment on this test's database; `down` at the end stops what `up` started
    (the API), so no process outlives the test."""
    env = {
        "CHAINLAKE_DATABASE_URL": cluster.pg.tcp_url(database),
        "CHAINLAKE_HOME": str(tmp_path / "home"),
    }
    # migrates (nothing to do) and sets the platform roles' passwords
    assert run("up", "--no-runner", "--no-chain", env=env).returncode == 0
    for args in (
        ("org", "create", "acme"),
        ("user", "create", "ann@acme.example", "--org", "acme", "--role", "writer"),
    ):
        assert run(*args, env=env).returncode == 0
    yield env
    run("down", env=env)


def ok(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    result = run(*args, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def runners(env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_runner(
    env: dict[str, str], runners: list[subprocess.Popen[str]], lease: int = 30
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [CHAINLAKE, "runner", "--lease-seconds", str(lease)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    runners.append(proc)
    return proc
