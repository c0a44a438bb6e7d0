"""Cold chain data: one chunk per aligned block range, three Parquet files (blocks,
transactions, logs) and a `_manifest.json`, written to the object store, read back and verified
before Postgres records it (`chain.record_chunk`).

Layout (docs/chain.md): `global/chain/{chain_id}/{from:012d}-{to:012d}/{writer}/{table}.parquet`
where `writer` is unique per attempt, so two writers of one range never overwrite each other; the
one Postgres records wins and the other removes its files.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg.rows import tuple_row

from chainlake.chain.codec import BIG_COLUMNS, BYTES_COLUMNS, TABLES, BlockData
from chainlake.storage import ObjectStore

Rows = dict[str, list[tuple[Any, ...]]]


def arrow_type(column: str) -> pa.DataType:
    if column in BYTES_COLUMNS:
        return pa.binary()
    if column in BIG_COLUMNS:
        return pa.string()  # uint256, exact, as decimal text
    if column == "timestamp":
        return pa.timestamp("us", tz="UTC")
    if column in ("status",):
        return pa.int16()
    if column in ("transaction_count", "transaction_index", "log_index"):
        return pa.int32()
    return pa.int64()


SCHEMAS = {
    table: pa.schema([(c, arrow_type(c)) for c in columns]) for table, columns in TABLES.items()
}


def to_arrow(table: str, rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = TABLES[table]
    data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    arrays = []
    for i, name in enumerate(columns):
        values: Any = data[i]
        if name in BIG_COLUMNS:
            values = [None if v is None else str(int(v)) for v in values]
        elif name in BYTES_COLUMNS:
            values = [bytes(v) if isinstance(v, memoryview) else v for v in values]
        arrays.append(pa.array(values, type=SCHEMAS[table].field(i).type))
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[table])


def rows_of(blocks: list[BlockData]) -> Rows:
    return {
        "blocks": [b.block for b in blocks],
        "transactions": [t for b in blocks for t in b.transactions],
        "logs": [lg for b in blocks for lg in b.logs],
    }


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=True)
    return sink.getvalue()


def chunk_ranges(start_block: int, chunk_size: int, first: int, last: int) -> list[tuple[int, int]]:
    """The aligned chunk ranges that cover first..last (chunks are [k*size, (k+1)*size - 1],
    the first one clipped to start_block)."""
    first = max(first, start_block)
    out = []
    k = first // chunk_size
    while k * chunk_size <= last:
        out.append((max(k * chunk_size, start_block), (k + 1) * chunk_size - 1))
        k += 1
    return out


def chunk_prefix(chain_id: int, first: int, last: int, writer: str) -> str:
    return f"global/chain/{chain_id}/{first:012d}-{last:012d}/{writer}"


@dataclass
class Chunk:
    chain_id: int
    from_block: int
    to_block: int
    first_parent_hash: bytes
    last_hash: bytes
    prefix: str
    files: dict[str, dict[str, Any]]

    def manifest(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "from_block": self.from_block,
            "to_block": self.to_block,
            "first_parent_hash": "0x" + self.first_parent_hash.hex(),
            "last_hash": "0x" + self.last_hash.hex(),
            "files": self.files,
            "schemas": {t: SCHEMAS[t].to_string() for t in TABLES},
        }


class ChunkError(Exception):
    """A chunk's rows do not make a whole, linked block range."""


def check_rows(rows: Rows, first: int, last: int) -> tuple[bytes, bytes]:
    """Every block first..last present once and linked by hash; returns (first parent, last)."""
    blocks = rows["blocks"]
    numbers = [b[1] for b in blocks]
    if numbers != list(range(first, last + 1)):
        raise ChunkError(f"blocks {first}..{last} are not all present (got {len(numbers)})")
    for prev, block in itertools.pairwise(blocks):
        if bytes(block[3]) != bytes(prev[2]):
            raise ChunkError(f"block {block[1]} does not link to block {prev[1]}")
    counts: dict[int, int] = {}
    for tx in rows["transactions"]:
        counts[tx[1]] = counts.get(tx[1], 0) + 1
    for block in blocks:
        if block[9] is not None and counts.get(block[1], 0) != block[9]:
            raise ChunkError(f"block {block[1]} lacks transactions")
    return bytes(blocks[0][3]), bytes(blocks[-1][2])


def write_chunk(store: ObjectStore, chain_id: int, first: int, last: int, rows: Rows) -> Chunk:
    """Write and verify a chunk's files and manifest; the caller records it in Postgres."""
    first_parent, last_hash = check_rows(rows, first, last)
    prefix = chunk_prefix(chain_id, first, last, uuid.uuid4().hex[:12])
    files: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        data = parquet_bytes(to_arrow(table, rows[table]))
        key = f"{prefix}/{table}.parquet"
        store.put(key, data)
        files[table] = {
            "key": key,
            "rows": len(rows[table]),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    chunk = Chunk(chain_id, first, last, first_parent, last_hash, prefix, files)
    problems = verify_chunk(store, chunk.files)
    if problems:
        raise ChunkError(f"chunk {first}..{last} did not verify after writing: {problems}")
    store.put(f"{prefix}/_manifest.json", json.dumps(chunk.manifest(), indent=1).encode())
    return chunk


def verify_chunk(store: ObjectStore, files: dict[str, dict[str, Any]]) -> list[str]:
    """Each file present, with its SHA-256 and row count. Returns what is wrong, if anything."""
    problems = []
    for table, info in files.items():
        try:
            data = store.get(info["key"])
        except FileNotFoundError:
            problems.append(f"{table}: {info['key']} is missing")
            continue
        if hashlib.sha256(data).hexdigest() != info["sha256"]:
            problems.append(f"{table}: {info['key']} was altered (SHA-256 differs)")
            continue
        rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        if rows != info["rows"]:
            problems.append(f"{table}: {info['key']} has {rows} rows, {info['rows']} recorded")
    return problems


def remove_chunk_files(store: ObjectStore, chunk: Chunk) -> None:
    for key in store.keys(chunk.prefix + "/"):
        store.delete(key)


def chunks_between(
    conn: psycopg.Connection[Any], chain_id: int, first: int, last: int
) -> list[tuple[int, int, dict[str, Any]]]:
    """The cold chunks of `chain_id` that hold any block of first..last, in block order: each
    chunk's first and last block and its files (by table: key, sha256, rows)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        found = cur.execute(
            "SELECT from_block, to_block, files FROM chain.cold_chunks(%s) "
            "WHERE to_block >= %s AND from_block <= %s ORDER BY from_block",
            (chain_id, first, last),
        ).fetchall()
    return [(int(a), int(b), files) for a, b, files in found]
