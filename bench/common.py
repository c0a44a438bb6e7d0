"""Shared pieces for benchmarks: a throwaway migrated cluster, a timer, percentiles."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg

from chainlake.local.localpg import TEST_SETTINGS, LocalPostgres
from chainlake.migrate import migrate


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def bench_cluster() -> Iterator[LocalPostgres]:
    workdir = Path(tempfile.mkdtemp(prefix="chainlake-bench-"))
    workdir.chmod(0o755)
    pg = LocalPostgres(workdir / "pg", TEST_SETTINGS)
    pg.start()
    try:
        yield pg
    finally:
        pg.destroy()


def migrated_database(pg: LocalPostgres, name: str) -> str:
    with psycopg.connect(pg.socket_url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    migrate(pg.socket_url(name))
    return pg.socket_url(name)


def scalar(conn: psycopg.Connection[Any], sql: str, *params: Any) -> Any:
    """The first column of the first row, or None."""
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def started(
    args: list[str], ready: Callable[[], bool], what: str, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """A platform process (`python -m ARGS`) started as `chainlake up` starts it, once `ready`
    says so (at most 30 s); its stderr to `log` when given."""
    process = subprocess.Popen([sys.executable, "-m", *args], stderr=log)
    ends = time.monotonic() + 30
    while not ready():
        if process.poll() is not None or time.monotonic() > ends:
            process.kill()
            raise RuntimeError(f"the {what} did not start")
        time.sleep(0.1)
    return process


def answers(url: str) -> bool:
    """Does GET url answer 200 within a second?"""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stopped(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each (they drain), SIGKILL what has not ended after 30 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
