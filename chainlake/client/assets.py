"""The API client's datasets and lineage: the methods of chainlake.domain.assets and lineage,
by name and keyword arguments, returning what they return."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chainlake.client.base import BaseClient


def _asset(org: str, dataset: str) -> str:
    return f"/v1/assets/{quote(org, safe='')}/{quote(dataset, safe='')}"


class AssetsClient(BaseClient):
    def list_assets(
        self, *, org: str | None = None, after: str | None = None, limit: int = 1000
    ) -> dict[str, Any]:
        asked = {"org": org, "after": after, "limit": limit}
        page: dict[str, Any] = self.request("GET", "/v1/assets", params=asked)
        return page

    def asset_versions(self, *, org: str, dataset: str) -> list[dict[str, Any]]:
        return list(self.pages(_asset(org, dataset) + "/versions"))

    def asset_status(self, *, org: str, dataset: str | None = None) -> list[dict[str, Any]]:
        if dataset is None:
            return list(self.pages(f"/v1/assets/{quote(org, safe='')}/status"))
        return list(self.request("GET", _asset(org, dataset) + "/status")["datasets"])

    def partition_status(self, *, org: str, dataset: str, start: str, end: str) -> dict[str, Any]:
        asked = {"from": start, "to": end}
        found: dict[str, Any] = self.request("GET", _asset(org, dataset) + "/status", params=asked)
        return found

    def preview_asset(
        self,
        *,
        org: str,
        dataset: str,
        version: int | None = None,
        partition: str | None = None,
        limit: int = 20,
        store: Any = None,
    ) -> dict[str, Any]:
        """`store` is the local path's; the API reads from its own store."""
        asked = {"version": version, "partition": partition, "limit": limit}
        shown: dict[str, Any] = self.request("GET", _asset(org, dataset) + "/preview", params=asked)
        return shown

    def rollback_asset(self, *, org: str, dataset: str, version: int) -> dict[str, Any]:
        body = {"version": version}
        done: dict[str, Any] = self.request("POST", _asset(org, dataset) + "/rollback", json=body)
        return done

    def verify_asset(
        self, *, org: str, dataset: str, version: int | None = None, store: Any = None
    ) -> dict[str, Any]:
        """`store` is the local path's; the API hashes through its own store."""
        body = {"version": version} if version is not None else {}
        found: dict[str, Any] = self.request("POST", _asset(org, dataset) + "/verify", json=body)
        return found

    def backfill(self, *, org: str, dataset: str, start: str, end: str) -> dict[str, Any]:
        body = {"from": start, "to": end}
        started: dict[str, Any] = self.request(
            "POST", _asset(org, dataset) + "/backfill", json=body
        )
        return started

    def backfill_progress(self, *, backfill_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", f"/v1/backfills/{quote(backfill_id, safe='')}")
        return found

    def lineage(
        self,
        *,
        org: str,
        dataset: str,
        version: int | None = None,
        direction: str = "upstream",
        depth: int = 10,
    ) -> dict[str, Any]:
        asked = {"version": version, "direction": direction, "depth": depth}
        path = f"/v1/lineage/{quote(org, safe='')}/{quote(dataset, safe='')}"
        graph: dict[str, Any] = self.request("GET", path, params=asked)
        return graph

    def openlineage(
        self,
        *,
        org: str,
        dataset: str,
        version: int | None = None,
        direction: str = "upstream",
        depth: int = 10,
    ) -> list[dict[str, Any]]:
        asked = {
            "version": version,
            "direction": direction,
            "depth": depth,
            "format": "openlineage",
        }
        path = f"/v1/lineage/{quote(org, safe='')}/{quote(dataset, safe='')}"
        return list(self.request("GET", path, params=asked)["events"])
