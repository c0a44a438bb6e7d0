"""Datasets and the catalog search."""

from __future__ import annotations

from typing import Any

from chainlake.client.base import BaseClient


class CatalogClient(BaseClient):
    def list_datasets(self, *, after: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Datasets the caller may read (its orgs' and those shared with them), one page;
        `after` is the `org/name` of the last one of the previous page."""
        return self._page("/v1/datasets", after=after, limit=limit)

    def search_catalog(self, *, q: str, limit: int = 50) -> list[dict[str, Any]]:
        """Datasets, columns, jobs and saved queries whose name, description, tag or type
        contains `q`."""
        found: list[dict[str, Any]] = self._get("/v1/catalog/search", q=q, limit=limit)["items"]
        return found
