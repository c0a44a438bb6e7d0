"""The spine's two figures, each beside a peer on the same cluster in the same run:

- `migrate_empty_s`: `chainlake migrate` on an empty database, against restoring the same
  resulting schema with `psql -f` of its `pg_dump --schema-only` (the raw-SQL floor).
- `clone_database_ms`: the test harness's per-test clone of the migrated template, against
  `CREATE DATABASE` from the empty template0.
"""

from __future__ import annotations

import itertools
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from bench.common import bench_cluster, median_seconds
from chainlake.local.localpg import pg_bindir
from chainlake.migrate import migrate

REPEAT = 5


def run() -> dict[str, Any]:
    counter = itertools.count()
    with bench_cluster() as pg, tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        with psycopg.connect(pg.socket_url(), autocommit=True) as admin:

            def fresh(template: str = "template1") -> str:
                name = f"b{next(counter)}"
                admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
                return name

            ours = median_seconds(lambda: migrate(pg.socket_url(fresh())), REPEAT)
            dump = workdir / "schema.sql"
            reference = fresh()
            migrate(pg.socket_url(reference))
            subprocess.run(
                [
                    str(pg_bindir() / "pg_dump"),
                    "--schema-only",
                    "-f",
                    str(dump),
                    pg.socket_url(reference),
                ],
                check=True,
            )
            peer = median_seconds(
                lambda: subprocess.run(
                    ["psql", "-q", "-o", "/dev/null", "-f", str(dump), pg.socket_url(fresh())],
                    check=True,
                    capture_output=True,
                ),
                REPEAT,
            )
            admin.execute(f"ALTER DATABASE {reference} IS_TEMPLATE true ALLOW_CONNECTIONS false")
            clone_sql = "CREATE DATABASE {} TEMPLATE " + reference + " STRATEGY FILE_COPY"
            clone = median_seconds(
                lambda: admin.execute(clone_sql.format(f"c{next(counter)}")), REPEAT * 4
            )
            empty = median_seconds(
                lambda: admin.execute(f"CREATE DATABASE e{next(counter)} TEMPLATE template0"),
                REPEAT * 4,
            )
    return {
        "migrate_empty_s": {
            "value": round(ours, 3),
            "peer": round(peer, 3),
            "unit": "s",
            "ratio": round(ours / peer, 2),
            "note": "peer: psql -f of the same schema's pg_dump",
        },
        "clone_database_ms": {
            "value": round(clone * 1000, 1),
            "peer": round(empty * 1000, 1),
            "unit": "ms",
            "ratio": round(clone / empty, 2),
            "note": "peer: CREATE DATABASE from empty template0",
        },
    }
