"""The query service beside raw DuckDB and raw Postgres, on the same data in the same run.

- `federated_ratio_vs_duckdb`: one aggregate over chain transactions, cold (Parquet chunks) and
  hot (Postgres) together: through the query service as a user (per request: the context read
  under the caller's identity, the pooled session reused as the API does when nothing changed,
  then the SQL) over raw DuckDB reading the same Parquet files and the same hot rows through its
  postgres extension as the table owner (goal <= 1.2).
- `federated_fresh_ratio_vs_duckdb`: the same with a new session per query (the snapshot, the
  views, the lockdown), as after each new block or catalog change.
- `rls_overhead_ratio`: a selective query on a tenant table with rows of 200 orgs, as a member
  under RLS over the same query as the table owner (goal <= 1.1).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import bench_cluster, migrated_database, scalar
from bench.ingest import filled_chain
from chainlake.chain.archive import backfill
from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.duck import connect as duck
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from chainlake.query import SessionPool, open_caller_session
from chainlake.storage import LocalStore

BLOCKS = 1500
COLD_TO = 999  # blocks 0..999 cold, the rest hot
REPEAT = 7
AGGREGATE = (
    "SELECT count(*) AS n, sum(gas_used) AS gas, count(DISTINCT from_address) AS senders, "
    "max(block_number) AS last FROM transactions"
)


def _median(action: Any) -> float:
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def federated() -> dict[str, Any]:
    with (
        bench_cluster() as pg,
        Anvil(free_port(), block_time=None) as anvil,
        tempfile.TemporaryDirectory() as out,
    ):
        db = migrated_database(pg, "bench_query")
        ingest_url = pg.socket_url("bench_query", "chainlake_ingest")
        rpc = filled_chain(anvil.url, BLOCKS)
        store = LocalStore(Path(out))
        with psycopg.connect(ingest_url, autocommit=True) as conn:
            conn.execute("SELECT chain.register_chain(31337, 'bench', 0, 64, 100)")
            backfill(conn, store, rpc, 31337, 0, COLD_TO, workers=4, log=lambda _m: None)
        live = LiveIngest(
            ChainConfig(
                chain_id=31337,
                name="bench",
                rpc_urls=[anvil.url],
                batch_blocks=100,
                use_finalized_tag=False,
                finality_depth=10_000,
            ),
            ingest_url,
            log=lambda _m: None,
        )
        live.prepare()
        while live.step():
            pass
        live.close()
        with psycopg.connect(db, autocommit=True) as admin:
            scalar(admin, "SELECT core.create_org('bench')")
            user = scalar(
                admin, "SELECT id FROM core.create_user('q@bench.example', 'bench', 'reader')"
            )
            files = [
                store.uri(r[0]["transactions"]["key"])
                for r in admin.execute("SELECT files FROM chain.chunks ORDER BY from_block")
            ]
        api_url = pg.socket_url("bench_query", "chainlake_api")

        api_conn = psycopg.connect(api_url)  # the API's connection pool keeps connections
        sessions = SessionPool()

        def ours(pool: SessionPool | None = sessions) -> tuple[Any, ...]:
            claims = {"sub": str(user)}
            session = open_caller_session(api_conn, claims, store, sql=AGGREGATE, pool=pool)
            try:
                return tuple(session.execute(AGGREGATE).fetchone() or ())
            finally:
                session.close()

        def fresh() -> tuple[Any, ...]:
            return ours(None)

        raw_con = duck("postgres")
        raw_con.execute(f"ATTACH '{db}' AS pg (TYPE postgres, READ_ONLY)")
        listed = ", ".join(f"'{f}'" for f in files)

        def raw() -> tuple[Any, ...]:
            sql = AGGREGATE.replace(
                "FROM transactions",
                f"FROM (SELECT gas_used, from_address, block_number FROM read_parquet([{listed}]) "
                f"UNION ALL SELECT gas_used, from_address, block_number "
                f"FROM pg.chain.transactions WHERE block_number > {COLD_TO})",
            )
            return tuple(raw_con.execute(sql).fetchone() or ())

        assert ours() == raw() == fresh(), (ours(), raw(), fresh())
        ours_s, raw_s, fresh_s = _median(ours), _median(raw), _median(fresh)
        rows = ours()[0]
        api_conn.close()
        sessions.close()
    return {
        "federated_ratio_vs_duckdb": {
            "value": round(ours_s / raw_s, 3),
            "ours_ms": round(ours_s * 1000, 1),
            "peer": round(raw_s * 1000, 1),
            "unit": "ratio",
            "note": f"{rows} transactions, blocks 0..{COLD_TO} cold, the rest hot; "
            "the session reused while nothing it was built from changed, as the API does "
            "(goal <= 1.2)",
        },
        "federated_fresh_ratio_vs_duckdb": {
            "value": round(fresh_s / raw_s, 3),
            "ours_ms": round(fresh_s * 1000, 1),
            "peer": round(raw_s * 1000, 1),
            "unit": "ratio",
            "note": "the same, building a new session per query (as after every new block)",
        },
    }


def rls_overhead() -> dict[str, Any]:
    with bench_cluster() as pg:
        db = migrated_database(pg, "bench_rls")
        with psycopg.connect(db, autocommit=True) as admin:
            orgs = []
            for i in range(200):
                orgs.append(scalar(admin, "SELECT id FROM core.create_org(%s)", f"org{i}"))
            member = scalar(
                admin, "SELECT db_role FROM core.create_user('m@x.example', 'org7', 'reader')"
            )
            rnd = random.Random(3)
            with (
                admin.cursor() as cur,
                cur.copy("COPY catalog.datasets (org_id, name, description) FROM STDIN") as copy,
            ):
                for org in orgs:
                    for j in range(500):
                        copy.write_row((org, f"ds{j}", f"dataset {rnd.random()}"))
            admin.execute("ANALYZE catalog.datasets")
        query = "SELECT id, name FROM catalog.datasets WHERE name = 'ds42'"
        with (
            psycopg.connect(pg.socket_url("bench_rls", member)) as user_conn,
            psycopg.connect(db) as owner_conn,
        ):
            owner_sql = query + " AND org_id = (SELECT id FROM core.orgs WHERE name = 'org7')"
            assert len(user_conn.execute(query).fetchall()) == 1
            assert len(owner_conn.execute(owner_sql).fetchall()) == 1

            def as_user() -> None:
                for _ in range(200):
                    user_conn.execute(query).fetchall()

            def as_owner() -> None:
                for _ in range(200):
                    owner_conn.execute(owner_sql).fetchall()

            user_s, owner_s = _median(as_user), _median(as_owner)
    return {
        "rls_overhead_ratio": {
            "value": round(user_s / owner_s, 3),
            "ours_ms": round(user_s / 200 * 1000, 3),
            "peer": round(owner_s / 200 * 1000, 3),
            "unit": "ratio",
            "note": "one dataset by name among 100,000 rows of 200 orgs: member under RLS vs "
            "owner with the same org filter (goal <= 1.1)",
        }
    }


def run() -> dict[str, Any]:
    return {**federated(), **rls_overhead()}
