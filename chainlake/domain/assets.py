"""Datasets and their versions: list, versions, status, partition status, preview of any
version (JSON lines, CSV, text or Parquet files), rollback, verify against the manifest,
backfill and its progress. Thin calls of sql/55_assets.sql, sql/56_assets_domain.sql and
sql/57_partitions.sql; row-level security decides what the caller sees."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from chainlake.domain import one, rows, to_json
from chainlake.domain.runs import FINAL_STATUSES, check_run_id, org_id
from chainlake.errors import InvalidInput, NotFound
from chainlake.manifests import verify as verify_files
from chainlake.storage import ObjectStore

Conn = psycopg.Connection[Any]


def list_assets(
    conn: Conn, *, org: str | None = None, after: str | None = None, limit: int = 1000
) -> dict[str, Any]:
    """The datasets of the caller's orgs with their current version: a page (`items`, `next`:
    the `after` of the next page, "org/name")."""
    if not 1 <= limit <= 10000:
        raise InvalidInput(f"limit: {limit} is not between 1 and 10000")
    found = rows(
        conn,
        "SELECT * FROM catalog.list_assets(p_org => %(org)s, p_after => %(after)s, p_limit => %(limit)s)",  # noqa: E501
        {"org": org, "after": after, "limit": limit},
    )
    last = f"{found[-1]['org']}/{found[-1]['name']}" if len(found) == limit else None
    return {"items": found, "next": last}


def asset_versions(conn: Conn, *, org: str, dataset: str) -> list[dict[str, Any]]:
    """Every version of a dataset: run, job, rows, bytes, schema, state, when."""
    return rows(
        conn,
        "SELECT * FROM catalog.asset_versions_of(p_org => %(org)s, p_dataset => %(ds)s)",
        {"org": org, "ds": dataset},
    )


def asset_status(conn: Conn, *, org: str, dataset: str | None = None) -> list[dict[str, Any]]:
    """Each dataset's staleness, the blocks its current ranges cover, the partitions a reorg
    superseded or that wait for their recompute, the versions validation holds back."""
    found = rows(conn, "SELECT s FROM catalog.asset_status(p_org => %(org)s) s", {"org": org})
    return [r["s"] for r in found if dataset is None or r["s"]["dataset"] == dataset]


def partition_status(conn: Conn, *, org: str, dataset: str, start: str, end: str) -> dict[str, Any]:
    """Each partition of [start, end]: materialized, missing (no version, or its files are
    gone), failed (its latest run failed) or running; and how many of each."""
    found = rows(
        conn,
        "SELECT * FROM catalog.partitions(p_org_id => %(org_id)s, p_dataset => %(ds)s, p_from => %(from)s, p_to => %(to)s)",  # noqa: E501
        {"org_id": org_id(conn, org), "ds": dataset, "from": start, "to": end},
    )
    counts: dict[str, int] = {}
    for row in found:
        row["status"] = _partition_state(row)
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return {"partitions": found, "counts": counts}


def _partition_state(row: dict[str, Any]) -> str:
    files_present = bool(row["uris"]) and all(
        urlparse(u).scheme != "file" or Path(urlparse(u).path).exists() for u in row["uris"]
    )
    if row["version"] is not None and files_present:
        return "materialized"
    if row["run_status"] in ("failed", "dead"):
        return "failed"
    if row["run_status"] in ("queued", "running", "retrying"):
        return "running"
    return "missing"


def _version(
    conn: Conn, org: str, dataset: str, version: int | None, partition: str | None
) -> dict[str, Any]:
    return one(
        conn,
        "SELECT * FROM catalog.asset_version(p_org => %(org)s, p_dataset => %(ds)s, p_version => %(v)s, p_partition => %(p)s)",  # noqa: E501
        {"org": org, "ds": dataset, "v": version, "p": partition},
    )


def preview_asset(
    conn: Conn,
    *,
    org: str,
    dataset: str,
    version: int | None = None,
    partition: str | None = None,
    limit: int = 20,
    store: ObjectStore | None = None,
) -> dict[str, Any]:
    """The first `limit` records of a version (the current one by default), each a line:
    text formats as they are, Parquet rows as JSON objects. Files on local disk are read where
    they are; those in the object store (S3) through `store` (the API's, or the local stack's)."""
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit: {limit} is not between 1 and 1000")
    found = _version(conn, org, dataset, version, partition)
    records: list[str] = []
    for uri in found["uris"]:
        if len(records) < limit:
            records += _records(_read(uri, store), uri, limit - len(records))
    return {
        "dataset": dataset,
        "version": found["version"],
        "partition": found["partition"],
        "records": records,
    }


def _read(uri: str, store: ObjectStore | None) -> Path | io.BytesIO | None:
    """Where a file's bytes are: a file:// URI on disk, another in the store it is in (read
    whole); None when it is gone or in no store at hand."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(parsed.path)
        return path if path.is_file() else None
    root = store.url.rstrip("/") + "/" if store is not None else None
    if store is None or root is None or not uri.startswith(root):
        return None
    try:
        return io.BytesIO(store.get(uri[len(root) :]))
    except FileNotFoundError:
        return None


def _records(source: Path | io.BytesIO | None, uri: str, limit: int) -> list[str]:
    if source is None:
        return []
    if uri.endswith(".parquet"):
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(source).iter_batches(batch_size=limit), None)
        found = batch.to_pylist()[:limit] if batch is not None else []
        return [json.dumps(to_json(r)) for r in found]
    handle = source.open("rb") if isinstance(source, Path) else source
    with handle:
        lines = [line for _, line in zip(range(limit), handle, strict=False)]
    return [line.decode(errors="replace").rstrip("\n") for line in lines]


def rollback_asset(conn: Conn, *, org: str, dataset: str, version: int) -> dict[str, Any]:
    """Make an older version current (writers); dependants re-run on it (`queued` of them)."""
    if version < 1:
        raise InvalidInput(f"version: {version} is not a version (1 or more)")
    queued = one(
        conn,
        "SELECT catalog.rollback(p_org_id => %(org_id)s, p_dataset => %(ds)s, p_version => %(v)s) AS n",  # noqa: E501
        {"org_id": org_id(conn, org), "ds": dataset, "v": version},
    )
    return {"dataset": dataset, "version": version, "queued": int(queued["n"])}


def asset_manifest(
    conn: Conn, *, org: str, dataset: str, version: int | None = None
) -> dict[str, Any]:
    """A version's manifest (the current version by default): its files and their SHA-256."""
    found = _version(conn, org, dataset, version, None)
    return {"dataset": dataset, "version": found["version"], "manifest": found["manifest"] or {}}


def verify_asset(
    conn: Conn, *, org: str, dataset: str, version: int | None = None
) -> dict[str, Any]:
    """Re-hash a version's files against its manifest: `problems` names what is missing or
    altered (empty: every file verifies)."""
    found = _version(conn, org, dataset, version, None)
    manifest = found["manifest"] or {}
    return {
        "dataset": dataset,
        "version": found["version"],
        "files": len(manifest.get("files", [])),
        "problems": verify_files(manifest),
    }


def backfill(conn: Conn, *, org: str, dataset: str, start: str, end: str) -> dict[str, Any]:
    """One run per partition of [start, end] of a partitioned dataset's producing job."""
    return one(
        conn,
        "SELECT * FROM runs.backfill(p_org_id => %(org_id)s, p_dataset => %(ds)s, p_from => %(from)s, p_to => %(to)s)",  # noqa: E501
        {"org_id": org_id(conn, org), "ds": dataset, "from": start, "to": end},
    )


def backfill_progress(conn: Conn, *, backfill_id: str) -> dict[str, Any]:
    """A backfill's runs by status, and how many have finished."""
    check_run_id(backfill_id, "backfill_id")
    found = rows(
        conn,
        "SELECT * FROM runs.backfill_progress(p_backfill_id => %(id)s)",
        {"id": backfill_id},
    )
    if not found:
        raise NotFound(f"unknown backfill {backfill_id}")
    counts = {r["status"]: int(r["runs"]) for r in found}
    finished = sum(counts.get(s, 0) for s in FINAL_STATUSES)
    return {"backfill_id": backfill_id, "counts": counts, "finished": finished}
