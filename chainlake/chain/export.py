"""Chain rows of a block range as a file a job can read: what a reactive job with chain inputs
gets (the runner calls this). Hot rows and cold chunks are read in one snapshot, cold up to the
watermark and hot above it. JSON lines: bytes as 0x-hex, uint256 as decimal strings,
timestamps as ISO 8601 (docs/chain.md)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chainlake.chain.archive import hot_rows, snapshot
from chainlake.chain.codec import BIG_COLUMNS, NUMBER_COLUMN, TABLES
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


def export_range(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    chain_id: int,
    table: str,
    first: int,
    last: int,
    path: Path,
) -> int:
    """Write `table`'s rows of blocks first..last to `path` (JSON lines); returns the count."""
    if table not in TABLES:
        raise ValueError(f"unknown chain table {table!r}")
    columns = TABLES[table]
    number = NUMBER_COLUMN[table]
    with snapshot(conn):
        (mark,) = conn.execute(
            "SELECT coalesce(archived_to, start_block - 1) FROM chain.chains WHERE chain_id = %s",
            (chain_id,),
        ).fetchone() or (first - 1,)
        chunks = (
            conn.execute(
                "SELECT from_block, to_block, files FROM chain.cold_chunks(%s) "
                "WHERE to_block >= %s AND from_block <= %s ORDER BY from_block",
                (chain_id, first, min(last, mark)),
            ).fetchall()
            if first <= mark
            else []
        )
        hot = hot_rows(conn, chain_id, max(first, mark + 1), last)[table]
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
    return count
