"""The test harness: one private Postgres cluster per test session (per xdist worker), a template
database migrated once through the real `chainlake migrate` path, and a fresh database per test
cloned from it (CREATE DATABASE ... TEMPLATE, tens of milliseconds)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from chainlake.local.localpg import TEST_SETTINGS, LocalPostgres
from chainlake.migrate import migrate

TEMPLATE = "chainlake_template"


@dataclass
class TestCluster:
    __test__ = False  # not a test class, despite its name

    pg: LocalPostgres
    workdir: Path
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def start(
        cls, listen: str = "127.0.0.1", clients: str | None = None, netns: Path | None = None
    ) -> TestCluster:
        """A cluster on 127.0.0.1, or (tests/topology.py) on `listen` in the network namespace
        `netns`, where `clients` log in over TCP with a password."""
        workdir = Path(tempfile.mkdtemp(prefix="chainlake-test-"))
        workdir.chmod(0o755)  # the postgres OS user must reach it when we run as root
        pg = LocalPostgres(workdir / "pg", TEST_SETTINGS, listen, clients, netns)
        pg.start()
        cluster = cls(pg, workdir)
        cluster.build_template()
        return cluster

    def build_template(self) -> None:
        with psycopg.connect(self.pg.socket_url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        migrate(self.pg.socket_url(TEMPLATE))
        with psycopg.connect(self.pg.socket_url(), autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE {TEMPLATE} IS_TEMPLATE true ALLOW_CONNECTIONS false")

    def new_database(self) -> str:
        name = f"t_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.pg.socket_url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.pg.socket_url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def url(self, database: str, user: str = "postgres") -> str:
        return self.pg.socket_url(database, user)

    def stop(self) -> None:
        self.pg.destroy()
        shutil.rmtree(self.workdir, ignore_errors=True)
