"""Saved queries: yours, and those your orgs share."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO, Literal

import pyarrow as pa

from chainlake.client.base import BaseClient, segment
from chainlake.client.query import Download, arrow_table

Visibility = Literal["private", "org"]


class SavedClient(BaseClient):
    def list_saved_queries(
        self, *, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Your saved queries and those your orgs share, one page."""
        return self._page("/v1/saved-queries", after=after, limit=limit)

    def save_query(
        self,
        *,
        org: str,
        name: str,
        sql: str,
        visibility: Visibility = "private",
        description: str = "",
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create or replace one of your saved queries (`org` visibility needs the writer
        role); `params` are the defaults of its `$name` parameters."""
        body = {
            "name": name,
            "sql": sql,
            "visibility": visibility,
            "description": description,
            "params": params or {},
        }
        saved: dict[str, Any] = self._post(f"/v1/saved-queries/{segment(org)}", body)
        return saved

    def get_saved_query(self, *, org: str, name: str) -> dict[str, Any]:
        """One saved query: yours by that name, else one your org shares."""
        found: dict[str, Any] = self._get(f"/v1/saved-queries/{segment(org, name)}")
        return found

    def delete_saved_query(self, *, org: str, name: str) -> None:
        self._delete(f"/v1/saved-queries/{segment(org, name)}")

    def run_saved_query(
        self,
        *,
        org: str,
        name: str,
        params: dict[str, Any] | None = None,
        max_rows: int = 10_000,
    ) -> dict[str, Any]:
        """A JSON page of the saved query's result, with `params` over its defaults."""
        body = {"params": params or {}, "format": "json", "max_rows": max_rows}
        page: dict[str, Any] = self._post(f"/v1/saved-queries/{segment(org, name)}/run", body)
        return page

    def run_saved_query_stream(
        self, *, org: str, name: str, format: Download, params: dict[str, Any] | None = None
    ) -> Iterator[bytes]:
        """The saved query's whole result in a streamed format, chunk by chunk."""
        body = {"params": params or {}, "format": format}
        return self._chunks(f"/v1/saved-queries/{segment(org, name)}/run", body)

    def run_saved_query_download(
        self,
        *,
        org: str,
        name: str,
        format: Download,
        out: BinaryIO,
        params: dict[str, Any] | None = None,
    ) -> int:
        """The saved query's whole result written to `out`; the bytes written."""
        body = {"params": params or {}, "format": format}
        return self._download(f"/v1/saved-queries/{segment(org, name)}/run", body, out)

    def run_saved_query_arrow(
        self, *, org: str, name: str, params: dict[str, Any] | None = None
    ) -> pa.Table:
        sink = io.BytesIO()
        self.run_saved_query_download(org=org, name=name, format="arrow", out=sink, params=params)
        return arrow_table(sink.getvalue(), f"saved query {org}/{name}")
