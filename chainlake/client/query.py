"""SQL over the chain and the datasets the caller may read: a JSON page, a download in a streamed
format, or an Arrow table (and a pandas or polars frame, where those are installed)."""

from __future__ import annotations

import importlib
import importlib.util
import io
from collections.abc import Iterator
from typing import Any, BinaryIO, Literal

import pyarrow as pa
import pyarrow.ipc

from chainlake.client.base import BaseClient
from chainlake.errors import ChainlakeError, InvalidInput

Format = Literal["json", "jsonl", "csv", "parquet", "arrow"]
Download = Literal["jsonl", "csv", "parquet", "arrow"]


def arrow_table(data: bytes, source: str) -> pa.Table:
    """An Arrow IPC stream as a table, or a clear error when it was cut short."""
    try:
        return pyarrow.ipc.open_stream(io.BytesIO(data)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ChainlakeError(
            f"the Arrow result of {source} is incomplete: {exc}", "run the query again"
        ) from exc


def _installed(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise InvalidInput(
            f"{module} is not installed", f"`pip install {module}`, or use query_arrow()"
        )


class QueryClient(BaseClient):
    def query(self, *, sql: str, format: Format = "json", max_rows: int = 10_000) -> dict[str, Any]:
        """A JSON page of the result: {columns, rows, row_count, truncated} (at most `max_rows`
        rows; 413, ResultTooLarge, past the API's byte cap: download it instead)."""
        if format != "json":
            raise InvalidInput(
                f"format={format!r}: query() answers a JSON page",
                "use query_download() or query_arrow() for the other formats",
            )
        page: dict[str, Any] = self._post("/v1/query", {"sql": sql, "max_rows": max_rows})
        return page

    def query_stream(self, *, sql: str, format: Download) -> Iterator[bytes]:
        """The whole result in a streamed format, chunk by chunk as the API sends it."""
        return self._chunks("/v1/query", {"sql": sql, "format": format})

    def query_download(self, *, sql: str, format: Download, out: BinaryIO) -> int:
        """The whole result written to `out` in a streamed format; the bytes written."""
        return self._download("/v1/query", {"sql": sql, "format": format}, out)

    def query_arrow(self, *, sql: str) -> pa.Table:
        """The whole result as an Arrow table (its types kept: no JSON on the way)."""
        sink = io.BytesIO()
        self.query_download(sql=sql, format="arrow", out=sink)
        return arrow_table(sink.getvalue(), "the query")

    def to_pandas(self, *, sql: str) -> Any:
        """The whole result as a pandas DataFrame (pandas must be installed)."""
        _installed("pandas")
        return self.query_arrow(sql=sql).to_pandas()

    def to_polars(self, *, sql: str) -> Any:
        """The whole result as a polars DataFrame (polars must be installed)."""
        _installed("polars")
        return importlib.import_module("polars").from_arrow(self.query_arrow(sql=sql))
