"""Block-range partitions: a backfill of 1,000 partitions, then none missing; delete one
partition's output and exactly that one shows missing; gaps are one query; bad ranges refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

from chainlake import assets
from chainlake.errors import InvalidInput
from chainlake.local.localpg import free_port
from chainlake.sdk import Context, job
from tests.runtime import TEST_JOBS, apply, running_runner, scalar, wait_for
from tests.tenants import Tenants


@job
def blocks(ctx: Context) -> None:
    partition = ctx.params["partition"]
    path = ctx.output_path("blocks", f"{partition}/part-0.txt")
    path.write_text(f"{ctx.params['from']}..{ctx.params['to']}\n")
    ctx.output("blocks", uris=[path.as_uri()], partition=partition, rows=1)


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    port = free_port()
    threading.Thread(target=blocks.serve, args=(port,), daemon=True).start()
    yield f"http://127.0.0.1:{port}"


def define(tenants: Tenants, service: str) -> None:
    with psycopg.connect(tenants.cluster.url(tenants.database), autocommit=True) as admin:
        admin.execute("SELECT core.allow_egress(%s)", (service.removeprefix("http://"),))
    apply(
        tenants,
        tenants.user("b", "writer"),
        TEST_JOBS / "derive.yaml",
        name="blocks",
        output_datasets=["blocks"],
        partitions={"kind": "block_range", "size": 10},
        launcher={"kind": "service", "endpoint": service},
    )


def test_a_thousand_partitions_then_one_deleted(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, service: str
) -> None:
    define(tenants, service)
    writer = tenants.user("b", "writer")
    with tenants.login(writer) as conn:
        started = assets.backfill(conn, "b", "blocks", "0", "9999")
        assert started["runs"] == 1000
        before = assets.partition_status(conn, "b", "blocks", "0", "9999")
        assert {r["status"] for r in before} == {"running"}
    with running_runner(tenants, tmp_path, concurrency=8):
        wait_for(
            lambda: (
                scalar(
                    admin,
                    "SELECT count(*) FROM runs.runs WHERE status = 'succeeded' "
                    "AND trigger ->> 'kind' = 'backfill'",
                )
                == 1000
            ),
            timeout=300,
            every=0.5,
        )
    with tenants.login(writer) as conn:
        rows = assets.partition_status(conn, "b", "blocks", "0", "9999")
        assert len(rows) == 1000 and {r["status"] for r in rows} == {"materialized"}
        assert [r["key"] for r in rows[:3]] == ["0-9", "10-19", "20-29"]
        victim = next(r for r in rows if r["key"] == "4560-4569")
        Path(urlparse(victim["uris"][0]).path).unlink()
        rows = assets.partition_status(conn, "b", "blocks", "0", "9999")
        assert [r["key"] for r in rows if r["status"] != "materialized"] == ["4560-4569"]
        # a range past what was backfilled: its gaps in one query
        gaps = conn.execute(
            "SELECT key FROM catalog.partitions(%s, 'blocks', '9990', '10019') "
            "WHERE version IS NULL",
            (tenants.org_ids["b"],),
        ).fetchall()
        assert [g[0] for g in gaps] == ["10000-10009", "10010-10019"]


def test_bad_ranges_and_unpartitioned_datasets_are_refused(tenants: Tenants, service: str) -> None:
    define(tenants, service)
    with tenants.login(tenants.user("b", "writer")) as conn:
        with pytest.raises(InvalidInput, match="needs FROM <= TO"):
            assets.backfill(conn, "b", "blocks", "100", "5")
        with pytest.raises(InvalidInput, match="needs FROM <= TO"):
            assets.backfill(conn, "b", "blocks", "abc", "5")
    apply(tenants, tenants.user("b", "writer"), TEST_JOBS / "derive.yaml")
    with tenants.login(tenants.user("b", "writer")) as conn:
        with pytest.raises(InvalidInput, match="not partitioned"):
            assets.backfill(conn, "b", "derived", "0", "10")
        assert (
            scalar(conn, "SELECT count(*) FROM runs.runs WHERE trigger ->> 'kind' = 'backfill'")
            == 0
        )
