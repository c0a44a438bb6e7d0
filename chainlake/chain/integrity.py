"""Integrity: find what is wrong with a chain's stored data, and repair it from the node.

`check` combines what Postgres knows (`chain.check`: hot gaps and broken hash links, the hot/cold
seam, gaps and broken links between chunks, blocks missing transactions) with what only the
object store can tell (each chunk's files present, with their SHA-256 and row counts).

`repair` fixes each problem from the node: hot problems by dropping the hot blocks from the first
bad one and ingesting them again; cold problems by rewriting the chunk over RPC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from chainlake.chain.archive import chain_state, record, rpc_rows
from chainlake.chain.cold import chunk_ranges, verify_chunk, write_chunk
from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.storage import ObjectStore

# where the long-running loop says what it did, unless its caller passes `log`
say = logging.getLogger("chainlake.chain.integrity").info

Log = Callable[[str], None]


@dataclass(frozen=True)
class Problem:
    chain_id: int
    kind: str
    from_block: int
    to_block: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(conn: psycopg.Connection[Any], store: ObjectStore | None, chain_id: int) -> list[Problem]:
    """What Postgres finds wrong, and with a `store`, what is wrong with the chunks' files."""
    problems = [
        Problem(chain_id, *row)
        for row in conn.execute(
            "SELECT problem, from_block, to_block, detail FROM chain.check(%s) ORDER BY from_block",
            (chain_id,),
        )
    ]
    if store is None:
        return problems
    for first, last, files in conn.execute(
        "SELECT from_block, to_block, files FROM chain.chunks WHERE chain_id = %s "
        "ORDER BY from_block",
        (chain_id,),
    ):
        for detail in verify_chunk(store, files):
            kind = "missing_chunk_file" if "missing" in detail else "altered_chunk"
            problems.append(
                Problem(chain_id, kind, first, last, f"chunk {first}..{last}: {detail}")
            )
    return problems


def repair(
    conn: psycopg.Connection[Any],
    database_url: str,
    store: ObjectStore,
    config: ChainConfig,
    *,
    log: Log = say,
    max_rounds: int = 3,
) -> list[Problem]:
    """Repair until `check` finds nothing (at most `max_rounds` passes); returns what is left."""
    rpc = config.rpc()
    chain_id = config.chain_id
    for _ in range(max_rounds):
        problems = check(conn, store, chain_id)
        if not problems:
            return []
        state = chain_state(conn, chain_id)
        hot_from: int | None = None
        chunks: set[tuple[int, int]] = set()
        for p in problems:
            if p.kind in ("missing_chunk", "missing_chunk_file", "altered_chunk") or (
                p.kind == "broken_hash_chain" and p.from_block <= state.watermark
            ):
                for bounds in chunk_ranges(
                    state.start_block, state.chunk_size, p.from_block, p.to_block
                ):
                    chunks.add(bounds)
                if p.kind == "broken_hash_chain":  # either side of the seam may be the bad one
                    chunks.update(
                        chunk_ranges(
                            state.start_block, state.chunk_size, p.from_block - 1, p.from_block - 1
                        )
                    )
            else:
                # hot: a gap, a broken link (the block or its parent may be stale), or a block
                # missing transactions; start from the lowest one still hot
                first = p.from_block - (1 if p.kind == "broken_hash_chain" else 0)
                first = max(first, state.watermark + 1)
                hot_from = first if hot_from is None else min(hot_from, first)
        for first, last in sorted(chunks):
            chunk = write_chunk(store, chain_id, first, last, rpc_rows(rpc, chain_id, first, last))
            record(conn, chunk, "rpc", replace=True)
            log(f"chain {chain_id}: rewrote chunk {first}..{last} from the node")
        if hot_from is not None:
            with conn.transaction():
                (dropped,) = conn.execute(
                    "SELECT chain.drop_hot_from(%s, %s)", (chain_id, hot_from)
                ).fetchone() or (0,)
            log(f"chain {chain_id}: dropped {dropped} hot block(s) from {hot_from}; re-ingesting")
            refill(config, database_url, hot_from)
    return check(conn, store, chain_id)


def refill(config: ChainConfig, database_url: str, first: int, max_steps: int = 1000) -> None:
    """Ingest from `first` (or the stored tip) to the node's head, then stop."""
    ingest = LiveIngest(config, database_url, log=lambda _m: None)
    try:
        ingest.prepare()
        if ingest.next_block > first and not ingest.recent.get(first - 1):
            ingest.next_block = first
        for _ in range(max_steps):
            if ingest.step() == 0:
                break
    finally:
        ingest.close()
