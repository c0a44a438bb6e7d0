"""Shared pieces for benchmarks: a throwaway migrated cluster, a timer, percentiles."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
