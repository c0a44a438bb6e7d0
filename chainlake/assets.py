"""Datasets and their versions by position, as the library's older callers (and tests) call
them; each is the domain operation of chainlake.domain.assets or lineage, which hold the calls."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import assets as ops
from chainlake.domain import lineage as lineage_ops

Conn = psycopg.Connection[Any]


def list_datasets(conn: Conn, org: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ops.list_assets(conn, org=org)["items"]
    return items


def versions(conn: Conn, org: str, name: str) -> list[dict[str, Any]]:
    return ops.asset_versions(conn, org=org, dataset=name)


def manifest(conn: Conn, org: str, name: str, version: int | None) -> tuple[int, dict[str, Any]]:
    found = ops.asset_manifest(conn, org=org, dataset=name, version=version)
    return int(found["version"]), dict(found["manifest"])


def rollback(conn: Conn, org: str, name: str, version: int) -> int:
    return int(ops.rollback_asset(conn, org=org, dataset=name, version=version)["queued"])


def lineage(
    conn: Conn, org: str, name: str, version: int | None, downstream: bool, depth: int
) -> dict[str, Any]:
    direction = "downstream" if downstream else "upstream"
    return lineage_ops.lineage(
        conn, org=org, dataset=name, version=version, direction=direction, depth=depth
    )


def openlineage_events(conn: Conn, org: str, graph: dict[str, Any]) -> list[dict[str, Any]]:
    return lineage_ops.openlineage_events(conn, org, graph)


def backfill(conn: Conn, org: str, name: str, start: str, end: str) -> dict[str, Any]:
    return ops.backfill(conn, org=org, dataset=name, start=start, end=end)


def partition_status(conn: Conn, org: str, name: str, start: str, end: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ops.partition_status(
        conn, org=org, dataset=name, start=start, end=end
    )["partitions"]
    return found


def staleness(conn: Conn, org: str) -> list[dict[str, Any]]:
    return ops.asset_status(conn, org=org)


def status(conn: Conn, org: str) -> list[dict[str, Any]]:
    return ops.asset_status(conn, org=org)


def preview(
    conn: Conn, org: str, name: str, version: int | None, partition: str | None, limit: int
) -> dict[str, Any]:
    return ops.preview_asset(
        conn, org=org, dataset=name, version=version, partition=partition, limit=limit
    )
