"""Chain rows of a block range as a file a job can read: what a reactive job with chain inputs
gets (the runner calls this). Hot rows and cold chunks are read in one snapshot, cold up to the
watermark and hot above it. JSON lines: bytes as 0x-hex, uint256 as decimal strings,
timestamps as ISO 8601 (docs/chain.md). The same snapshot gives what lineage records of the read:
the hashes of the range's first and last blocks and the chain's newest event id."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainlake.chain.archive import hot_rows, snapshot
from chainlake.chain.codec import BIG_COLUMNS, NUMBER_COLUMN, TABLES
from chainlake.chain.cold import chunks_between
from chainlake.storage import ObjectStore


def _json_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bytes | memoryview):
        return "0x" + bytes(value).hex()
    if column in BIG_COLUMNS or isinstance(value, Decimal):
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class RangeExport:
    """What one export read: its row count, the hashes of the range's first and last blocks
    (None where the chain does not hold them), and the chain's newest chain.events id then."""

    rows: int
    first_hash: bytes | None
    last_hash: bytes | None
    events_through: int | None


def _cold_hash(
    conn: psycopg.Connection[Any], store: ObjectStore, chain_id: int, number: int
) -> bytes | None:
    """A block's hash from its cold chunk (inside a chunk, Postgres keeps only the edges)."""
    holding = chunks_between(conn, chain_id, number, number)
    if not holding:
        return None
    files = holding[0][2]
    data = pq.read_table(io.BytesIO(store.get(files["blocks"]["key"])), columns=["number", "hash"])
    found = data.filter(pc.equal(data["number"], number))["hash"].to_pylist()
    return bytes(found[0]) if found else None


def _range_ends(
    conn: psycopg.Connection[Any], store: ObjectStore, chain_id: int, first: int, last: int
) -> tuple[bytes | None, bytes | None, int | None]:
    first_hash, last_hash, events = conn.execute(
        "SELECT * FROM chain.range_ends(%s, %s, %s)", (chain_id, first, last)
    ).fetchone() or (None, None, None)
    return (
        bytes(first_hash) if first_hash is not None else _cold_hash(conn, store, chain_id, first),
        bytes(last_hash) if last_hash is not None else _cold_hash(conn, store, chain_id, last),
        events,
    )


def export_range(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    chain_id: int,
    table: str,
    first: int,
    last: int,
    path: Path,
) -> RangeExport:
    """Write `table`'s rows of blocks first..last to `path` (JSON lines); returns the count and
    what lineage records of the read."""
    if table not in TABLES:
        raise ValueError(f"unknown chain table {table!r}")
    columns = TABLES[table]
    number = NUMBER_COLUMN[table]
    with snapshot(conn):
        (mark,) = conn.execute(
            "SELECT coalesce(archived_to, start_block - 1) FROM chain.chains WHERE chain_id = %s",
            (chain_id,),
        ).fetchone() or (first - 1,)
        chunks = chunks_between(conn, chain_id, first, min(last, mark)) if first <= mark else []
        hot = hot_rows(conn, chain_id, max(first, mark + 1), last)[table]
        first_hash, last_hash, events = _range_ends(conn, store, chain_id, first, last)
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for _, _, files in chunks:
            data = pq.read_table(io.BytesIO(store.get(files[table]["key"])))
            keep = pc.and_(pc.greater_equal(data[number], first), pc.less_equal(data[number], last))
            for record in data.filter(keep).to_pylist():
                out.write(json.dumps({c: _json_value(c, record[c]) for c in columns}) + "\n")
                count += 1
        for row in hot:
            out.write(json.dumps({c: _json_value(c, v) for c, v in zip(columns, row, strict=True)}))
            out.write("\n")
            count += 1
    return RangeExport(count, first_hash, last_hash, events)
