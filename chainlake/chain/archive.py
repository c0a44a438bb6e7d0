"""Moving chain data to cold storage: the finality archiver (finalized hot ranges) and the
backfill (historical ranges fetched over RPC) write the same aligned chunks; Postgres records
each one (`chain.record_chunk`), moves the watermark over contiguous chunks and prunes the hot
rows under it (`chain.advance_watermark`), all in one transaction per chunk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from chainlake.chain import fetch
from chainlake.chain.codec import NUMBER_COLUMN, ORDER_BY, TABLES
from chainlake.chain.cold import (
    Chunk,
    Rows,
    chunk_ranges,
    remove_chunk_files,
    rows_of,
    write_chunk,
)
from chainlake.chain.rpc import RpcClient
from chainlake.errors import ChainlakeError
from chainlake.storage import ObjectStore

# where the long-running loop says what it did, unless its caller passes `log`
say = logging.getLogger("chainlake.chain.archive").info

Log = Callable[[str], None]


@dataclass
class ChainState:
    chain_id: int
    start_block: int
    chunk_size: int
    finalized: int | None
    archived_to: int | None

    @property
    def watermark(self) -> int:
        return self.archived_to if self.archived_to is not None else self.start_block - 1


def chain_state(conn: psycopg.Connection[Any], chain_id: int) -> ChainState:
    row = conn.execute(
        "SELECT chain_id, start_block, chunk_size, finalized, archived_to FROM chain.chains "
        "WHERE chain_id = %s",
        (chain_id,),
    ).fetchone()
    if row is None:
        raise ChainlakeError(
            f"chain {chain_id} is not registered",
            "start its live ingest once (chainlake up does), or run `chainlake chain register`",
        )
    return ChainState(*row)


def record(conn: psycopg.Connection[Any], chunk: Chunk, source: str, replace: bool = False) -> bool:
    """Record the chunk and advance the watermark, in one transaction. False: another writer
    recorded this range first (the caller removes its own files)."""
    with conn.transaction():
        row = conn.execute(
            "SELECT chain.record_chunk(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                chunk.chain_id,
                chunk.from_block,
                chunk.to_block,
                chunk.first_parent_hash,
                chunk.last_hash,
                chunk.prefix,
                Jsonb(chunk.files),
                source,
                replace,
            ),
        ).fetchone()
        conn.execute("SELECT chain.advance_watermark(%s)", (chunk.chain_id,))
    return bool(row and row[0])


@contextmanager
def snapshot(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """One REPEATABLE READ, read-only transaction (on an autocommit or an idle connection)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def hot_rows(conn: psycopg.Connection[Any], chain_id: int, first: int, last: int) -> Rows:
    out: Rows = {}
    for table, columns in TABLES.items():
        number = NUMBER_COLUMN[table]
        out[table] = conn.execute(
            f"SELECT {', '.join(columns)} FROM chain.{table} "  # noqa: S608 - fixed names
            f"WHERE chain_id = %s AND {number} BETWEEN %s AND %s ORDER BY {ORDER_BY[table]}",
            (chain_id, first, last),
        ).fetchall()
    return out


def rpc_rows(rpc: RpcClient, chain_id: int, first: int, last: int, batch: int = 25) -> Rows:
    blocks = []
    for start in range(first, last + 1, batch):
        numbers = list(range(start, min(last, start + batch - 1) + 1))
        got = fetch.fetch_blocks(rpc, chain_id, numbers)
        if len(got) != len(numbers):
            raise ChainlakeError(f"the node does not serve blocks {start}..{numbers[-1]} yet")
        blocks.extend(got)
    return rows_of(blocks)


@dataclass
class Progress:
    written: list[tuple[int, int]] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)
    lost_race: list[tuple[int, int]] = field(default_factory=list)
    blocks: int = 0
    seconds: float = 0.0


def archive(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    chain_id: int,
    *,
    rpc: RpcClient | None = None,
    max_chunks: int = 100,
    log: Log = say,
) -> Progress:
    """Extend cold storage from the watermark over finalized blocks: chunk by chunk, from the
    hot rows where hot holds the whole range, else over RPC (when given)."""
    progress = Progress()
    started = time.monotonic()
    for _ in range(max_chunks):
        state = chain_state(conn, chain_id)
        if state.finalized is None:
            break
        first = state.watermark + 1
        ranges = chunk_ranges(state.start_block, state.chunk_size, first, first)
        if not ranges or ranges[0][1] > state.finalized:
            break
        first, last = ranges[0]
        with snapshot(conn):  # blocks, transactions and logs as of one moment
            rows = hot_rows(conn, chain_id, first, last)
        source = "archive"
        if len(rows["blocks"]) != last - first + 1:
            if rpc is None:
                log(f"chain {chain_id}: blocks {first}..{last} are not all hot; backfill them")
                break
            rows, source = rpc_rows(rpc, chain_id, first, last), "rpc"
        chunk = write_chunk(store, chain_id, first, last, rows)
        if record(conn, chunk, source):
            progress.written.append((first, last))
            progress.blocks += last - first + 1
            log(f"chain {chain_id}: archived {first}..{last} ({source})")
        else:
            remove_chunk_files(store, chunk)
            progress.lost_race.append((first, last))
    progress.seconds = time.monotonic() - started
    return progress


def backfill(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    rpc: RpcClient,
    chain_id: int,
    first: int,
    last: int,
    *,
    workers: int = 4,
    log: Log = say,
    advance: Callable[[int, int], None] | None = None,
) -> Progress:
    """Chunks for first..last over RPC, `workers` at a time, skipping chunks already recorded
    (so a stopped backfill resumes where it was) and anything not yet final (live ingest owns
    the tip). `advance(chunks done, chunks to do)` follows it (a progress bar)."""
    state = chain_state(conn, chain_id)
    node_final = fetch.finalized(rpc)
    final = max(x for x in (state.finalized, node_final, -1) if x is not None)
    progress = Progress()
    started = time.monotonic()
    done = {
        (r[0], r[1])
        for r in conn.execute(
            "SELECT from_block, to_block FROM chain.chunks WHERE chain_id = %s", (chain_id,)
        )
    }
    todo = []
    for a, b in chunk_ranges(state.start_block, state.chunk_size, first, last):
        if b > final:
            log(f"chain {chain_id}: {a}..{b} is not final yet; live ingest holds it")
            break
        if (a, b) in done:
            progress.skipped.append((a, b))
        else:
            todo.append((a, b))

    def one(bounds: tuple[int, int]) -> Chunk:
        return write_chunk(store, chain_id, *bounds, rpc_rows(rpc, chain_id, *bounds))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for n, (bounds, chunk) in enumerate(zip(todo, pool.map(one, todo), strict=True), 1):
            if record(conn, chunk, "rpc"):
                progress.written.append(bounds)
                progress.blocks += bounds[1] - bounds[0] + 1
            else:
                remove_chunk_files(store, chunk)
                progress.lost_race.append(bounds)
            if advance is not None:
                advance(n, len(todo))
    progress.seconds = time.monotonic() - started
    log(
        f"chain {chain_id}: backfilled {len(progress.written)} chunk(s), "
        f"{progress.blocks} blocks in {progress.seconds:.1f} s; "
        f"{len(progress.skipped)} already there"
    )
    return progress
