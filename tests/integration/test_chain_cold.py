"""Backfill and the finality archiver, on both object stores (a local directory and S3 on
SeaweedFS): the query service, as a user, returns each block's rows exactly once before, during
and after an archive, while live ingest runs."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.chain.archive import archive, backfill
from chainlake.chain.codec import BIG_COLUMNS, TABLES
from chainlake.chain.rpc import RpcClient
from chainlake.duck import connect as duck
from chainlake.errors import InvalidInput
from chainlake.local.devchain import Anvil, Traffic, deploy_token
from chainlake.local.localpg import free_port
from chainlake.local.s3 import SeaweedS3
from chainlake.query import open_caller_session
from chainlake.storage import LocalStore, ObjectStore
from tests.chainkit import (
    chain_config,
    node_head,
    node_rows,
    running_ingest,
    stored_tip,
    wait_until,
)
from tests.harness import TestCluster

CHAIN = 31337


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    seaweed: SeaweedS3 = request.getfixturevalue("seaweed")
    return seaweed.store("chainlake", f"test-{uuid.uuid4().hex[:8]}")


def test_both_stores_put_get_list_and_refuse_bad_keys(store: ObjectStore, tmp_path: Path) -> None:
    store.put("global/x/a.bin", b"one")
    source = tmp_path / "f.bin"
    source.write_bytes(b"two" * 1000)
    store.put_file("global/x/b.bin", source)
    assert store.get("global/x/a.bin") == b"one"
    assert store.get("global/x/b.bin") == b"two" * 1000
    assert store.exists("global/x/a.bin") and not store.exists("global/x/zzz")
    assert store.keys("global/x/") == ["global/x/a.bin", "global/x/b.bin"]
    store.delete("global/x/a.bin")
    assert store.keys("global/") == ["global/x/b.bin"]
    with pytest.raises(FileNotFoundError):
        store.get("global/x/a.bin")
    for bad in ("../etc/passwd", "/abs", "a/../../b"):
        with pytest.raises(InvalidInput, match="relative path"):
            store.put(bad, b"x")
    con = duck("httpfs")
    for statement in store.duckdb_setup():
        con.execute(statement)
    assert con.execute(
        f"SELECT count(*) FROM read_blob('{store.uri('global/x/b.bin')}')"
    ).fetchone() == (1,)


def unified(
    cluster: TestCluster, database: str, store: ObjectStore, last: int, user_id: str
) -> dict[str, Any]:
    """Rows of blocks 0..last through the query service as a user, and duplicate counts."""
    with psycopg.connect(cluster.url(database, "chainlake_api")) as conn:
        session = open_caller_session(conn, {"sub": user_id}, store)
    con = session
    out: dict[str, Any] = {}
    for table, key in (
        ("blocks", "number"),
        ("transactions", "block_number, transaction_index"),
        ("logs", "block_number, log_index"),
    ):
        number = "number" if table == "blocks" else "block_number"
        rows = con.execute(
            f"SELECT * FROM {table} WHERE chain_id = {CHAIN} AND {number} <= {last} ORDER BY {key}"
        ).fetchall()
        out[table] = rows
        dupes = con.execute(
            f"SELECT count(*) FROM (SELECT {key}, count(*) n FROM {table} "
            f"WHERE chain_id = {CHAIN} GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
        assert dupes == (0,), f"{table} has duplicates"
    session.close()
    return out


def test_backfill_over_the_live_tip_then_archive_keeps_every_row_exactly_once(
    cluster: TestCluster, database: str, admin: psycopg.Connection[Any], store: ObjectStore
) -> None:
    ingest_url = cluster.url(database, "chainlake_ingest")
    with Anvil(free_port()) as anvil:
        rpc = RpcClient([anvil.url])
        traffic = Traffic(rpc, deploy_token(rpc), rate=60).start()
        wait_until(lambda: traffic.sent > 20, 20, "traffic")
        rpc.call("anvil_mine", [25])
        config = chain_config(anvil.url, ingest_from="latest", finality_depth=5, chunk_size=10)
        with running_ingest(config, ingest_url):
            start = node_head(rpc)
            # final (tip - 5) past the end of the chunk holding start + 5 (at most start + 14),
            # so the backfill's last chunk reaches into the live range whatever start is
            wait_until(lambda: stored_tip(admin, CHAIN) >= start + 20, 40, "live blocks")
            # a backfill from genesis into the live range, while live ingest runs
            with psycopg.connect(ingest_url, autocommit=True) as conn:
                done = backfill(conn, store, rpc, CHAIN, 0, start + 5, log=lambda _m: None)
            assert done.written and done.written[0] == (0, 9)
            assert done.written[-1][1] >= start, "the backfill overlaps the live range"
            wait_until(lambda: stored_tip(admin, CHAIN) >= start + 32, 40, "more live blocks")
            traffic.stop()
            rpc.call("evm_setIntervalMining", [0])
            last = node_head(rpc)
            wait_until(lambda: stored_tip(admin, CHAIN) == last, 30, "ingest to settle")
        expected = node_rows(rpc, CHAIN, 0, last)
    member = admin.execute(
        "SELECT id FROM core.create_user('q@reader.example', "
        "(SELECT name FROM core.create_org('r')), 'reader')"
    ).fetchone()
    assert member is not None
    user_id = str(member[0])
    before = unified(cluster, database, store, last, user_id)
    watermark_before = admin.execute("SELECT archived_to FROM chain.chains").fetchone()
    assert watermark_before is not None and watermark_before[0] >= 9
    for table in expected:
        assert before[table] == [_norm(table, r) for r in expected[table]], table

    # archive while readers query: each read sees every row once
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            got = unified(cluster, database, store, last, user_id)
            seen.append(len(got["transactions"]))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    with psycopg.connect(ingest_url, autocommit=True) as conn:
        moved = archive(conn, store, CHAIN, log=lambda _m: None)
    stop.set()
    thread.join(60)
    assert moved.written, "the archiver moved finalized hot ranges"
    after = unified(cluster, database, store, last, user_id)
    assert after == before
    assert seen and set(seen) == {len(expected["transactions"])}
    (mark,) = admin.execute("SELECT archived_to FROM chain.chains").fetchone() or (None,)
    assert mark is not None and mark > watermark_before[0]
    hot_below = admin.execute(
        "SELECT count(*) FROM chain.blocks WHERE number <= %s", (mark,)
    ).fetchone()
    assert hot_below == (0,), "hot rows under the watermark are pruned"
    assert admin.execute("SELECT * FROM chain.check(%s)", (CHAIN,)).fetchall() == []


def _norm(table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Node rows as the unified views type them (uint256 as exact decimal text)."""
    return tuple(
        str(v) if c in BIG_COLUMNS and v is not None else v
        for c, v in zip(TABLES[table], row, strict=True)
    )
