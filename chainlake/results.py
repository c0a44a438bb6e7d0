"""Query results out: a JSON page for interactive use, or a stream in bounded memory for
downloads (CSV, JSON lines, Parquet, Arrow IPC), batch by batch from DuckDB.

Memory outside DuckDB's `memory_limit` is bounded: downloads convert one batch of at most
BATCH_ROWS rows at a time and hold nothing of the batches sent; a JSON page is built from
chunks of PAGE_CHUNK_ROWS rows and refused (ResultTooLarge, 413) as soon as its encoded rows
pass its byte cap, whatever its row cap."""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from chainlake.errors import InvalidInput, ResultTooLarge
from chainlake.query import jsonable

FORMATS = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}
BATCH_ROWS = 8_192  # rows per batch of a download
PAGE_CHUNK_ROWS = 1_024  # rows fetched at a time for a JSON page
JSON_MAX_BYTES = 16 * 2**20  # a JSON page's rows, encoded, at most (the API's default cap)
STREAMED = ("jsonl", "csv", "parquet", "arrow")


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise InvalidInput(f"unknown format {name!r}", f"use one of: {', '.join(FORMATS)}")
    return name


def json_page(
    result: duckdb.DuckDBPyConnection, max_rows: int, max_bytes: int = JSON_MAX_BYTES
) -> bytes:
    """The first `max_rows` rows as one JSON document ({columns, rows, row_count, truncated}),
    or ResultTooLarge once the rows encoded pass `max_bytes`."""
    columns = [{"name": d[0], "type": str(d[1])} for d in result.description or []]
    rows: list[bytes] = []
    size, truncated = 0, False
    while not truncated and (chunk := result.fetchmany(PAGE_CHUNK_ROWS)):
        for row in chunk:
            if len(rows) == max_rows:  # a row beyond the page: there is more
                truncated = True
                break
            encoded = json.dumps([jsonable(v) for v in row]).encode()
            size += len(encoded) + 1
            if size > max_bytes:
                raise _too_large(max_bytes, len(rows))
            rows.append(encoded)
    head = json.dumps({"columns": columns}).encode()[:-1]
    tail = json.dumps({"row_count": len(rows), "truncated": truncated}).encode()[1:]
    return head + b', "rows": [' + b", ".join(rows) + b"], " + tail


def page_row_count(page: bytes) -> int:
    """The row count of a page made by json_page (read from its tail, without decoding it)."""
    found = _ROW_COUNT.search(page[-80:])
    return int(found.group(1)) if found else 0


_ROW_COUNT = re.compile(rb'"row_count": (\d+), "truncated": (?:true|false)}$')


def _too_large(max_bytes: int, rows: int) -> ResultTooLarge:
    return ResultTooLarge(
        f"the result is more than a JSON page holds: its first {rows + 1} rows pass the cap of "
        f"{max_bytes} bytes",
        f"ask for fewer rows (max_rows), or download the whole result in a streamed format: "
        f"{', '.join(STREAMED)}",
    )


def _batches(result: duckdb.DuckDBPyConnection) -> Iterator[pa.RecordBatch]:
    reader = result.to_arrow_reader(BATCH_ROWS)
    yield from reader


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Binary columns as 0x-hex text, for text formats."""
    arrays = []
    for column in batch.columns:
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            column = pa.array(
                [None if v is None else "0x" + v.hex() for v in column.to_pylist()], pa.string()
            )
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def stream(result: duckdb.DuckDBPyConnection, fmt: str) -> Iterator[bytes]:
    """The whole result as `fmt`, one chunk per batch (Parquet through a temporary file)."""
    if fmt == "csv":
        first = True
        for batch in _batches(result):
            sink = io.BytesIO()
            pacsv.write_csv(_plain(batch), sink, pacsv.WriteOptions(include_header=first))
            first = False
            yield sink.getvalue()
        if first:  # no rows: the header alone
            names = [d[0] for d in result.description or []]
            yield (",".join(json.dumps(n) for n in names) + "\n").encode()
    elif fmt == "jsonl":
        for batch in _batches(result):
            names = batch.schema.names
            lines = (
                json.dumps(dict(zip(names, (jsonable(v) for v in row), strict=True)))
                for row in zip(*(c.to_pylist() for c in batch.columns), strict=True)
            )
            yield ("\n".join(lines) + "\n").encode() if batch.num_rows else b""
    elif fmt == "arrow":
        reader = result.to_arrow_reader(BATCH_ROWS)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                yield sink.getvalue()
                sink.seek(0)
                sink.truncate()
        yield sink.getvalue()
    elif fmt == "parquet":
        reader = result.to_arrow_reader(BATCH_ROWS)
        handle, path = tempfile.mkstemp(suffix=".parquet")
        os.close(handle)
        try:
            with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch)
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
        finally:
            os.unlink(path)
    else:
        raise InvalidInput(f"format {fmt!r} is not a download format")
