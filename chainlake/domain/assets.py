"""Datasets and their versions: list, versions, status, partition status, preview of any
version (JSON lines, CSV, text or Parquet files), rollback, verify against the manifest,
backfill and its progress. Thin calls of sql/55_assets.sql, sql/56_assets_domain.sql and
sql/57_partitions.sql; row-level security decides what the caller sees."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from chainlake.domain import one, rows, to_json
from chainlake.domain.runs import FINAL_STATUSES, check_run_id, org_id
from chainlake.errors import InvalidInput, NotFound
from chainlake.manifests import verify as verify_files
from chainlake.storage import ObjectStore, RangedReader, key_of

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


RECORD_BYTES = 64 * 1024  # one record's text in a preview, at most: longer ones are cut
PREVIEW_BYTES = 512 * 1024  # a preview's records together (as JSON), at most
SCAN_BYTES = 8 * 1024 * 1024  # bytes of text files one preview reads, at most
ROW_GROUP_BYTES = 32 * 1024 * 1024  # a Parquet row group a preview reads (uncompressed), at most
FOOTER_BYTES = 4 * 1024 * 1024  # a Parquet footer a preview reads, at most
READ_BLOCK = 256 * 1024  # the size of each read of an object in the store
CUT = " ... [record cut at {} bytes{}]"


@dataclass
class _Preview:
    """The records found so far and what is left of the preview's budgets."""

    left: int
    room: int = PREVIEW_BYTES
    scan: int = SCAN_BYTES
    truncated: bool = False
    records: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, text: bytes, whole: bool = True) -> bool:
        """Add a record (cut to RECORD_BYTES, saying so); False once the preview is full."""
        shown = text[:RECORD_BYTES].decode(errors="replace")
        if len(text) > RECORD_BYTES or not whole:
            shown += CUT.format(RECORD_BYTES, f"; {len(text)} in all" if whole else "")
        size = len(json.dumps(shown)) + 1
        if size > self.room:
            self.truncated = True
            return False
        self.room -= size
        self.records.append(shown)
        self.left -= 1
        return self.left > 0

    def stop(self, note: str) -> bool:
        self.truncated = True
        self.notes.append(note)
        return False


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
    they are; those in the object store (S3) through `store` (the API's, or the local stack's),
    by ranged reads. Bounded in bytes as in records: a record longer than RECORD_BYTES is cut
    (saying so), and the preview stops at PREVIEW_BYTES, SCAN_BYTES of text read, or a Parquet
    row group over ROW_GROUP_BYTES (`truncated`, and `notes` says why)."""
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit: {limit} is not between 1 and 1000")
    found = _version(conn, org, dataset, version, partition)
    shown = _Preview(left=limit)
    for uri in found["uris"]:
        source = _open(uri, store)
        if source is None:
            continue
        with source:
            parquet = uri.endswith(".parquet")
            more = _parquet(source, uri, shown) if parquet else _text(source, shown)
        if not more:
            break
    return {
        "dataset": dataset,
        "version": found["version"],
        "partition": found["partition"],
        "records": shown.records,
        "truncated": shown.truncated,
        "notes": shown.notes,
    }


def _open(uri: str, store: ObjectStore | None) -> io.BufferedReader | None:
    """A file's bytes, to read as far as needed: a file:// URI on disk, another in the store
    it is in (ranged reads); None when it is gone or in no store at hand."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(parsed.path)
        return path.open("rb") if path.is_file() else None
    key = key_of(store, uri)
    if store is None or key is None:
        return None
    try:
        return io.BufferedReader(RangedReader(store, key), buffer_size=READ_BLOCK)
    except FileNotFoundError:
        return None


def _text(source: io.BufferedReader, shown: _Preview) -> bool:
    """Lines of a text file as records; False once the preview is full or out of budget."""
    while shown.left > 0:
        if shown.scan <= 0:
            return shown.stop(f"stopped after reading {SCAN_BYTES} bytes of text")
        line = source.readline(RECORD_BYTES + 1)
        if not line:
            return True
        shown.scan -= len(line)
        whole = line.endswith(b"\n") or len(line) <= RECORD_BYTES
        if not shown.add(line.rstrip(b"\n"), whole):
            return False
        if not whole:
            _skip_line(source, shown)
    return False


def _skip_line(source: io.BufferedReader, shown: _Preview) -> None:
    """Read past the rest of a cut line, within the preview's scan budget."""
    while shown.scan > 0:
        rest = source.readline(min(READ_BLOCK, shown.scan))
        shown.scan -= len(rest)
        if not rest or rest.endswith(b"\n"):
            return


def _parquet(source: io.BufferedReader, uri: str, shown: _Preview) -> bool:
    """Rows of a Parquet file as JSON records, from its first row groups only, in small
    batches; a footer or a row group over its cap is not read (the preview stops, saying so)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source.seek(-8, io.SEEK_END)
        tail = source.read(8)
        footer = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or footer > FOOTER_BYTES:
            return shown.stop(f"{uri}: not Parquet, or its footer is over {FOOTER_BYTES} bytes")
        source.seek(0)
        parquet = pq.ParquetFile(source)
        for group in range(parquet.metadata.num_row_groups):
            size = parquet.metadata.row_group(group).total_byte_size
            if size > ROW_GROUP_BYTES:
                return shown.stop(
                    f"{uri}: row group {group} is {size} bytes uncompressed, over the preview's "
                    f"{ROW_GROUP_BYTES}; not read"
                )
            batches = parquet.iter_batches(batch_size=min(shown.left, 100), row_groups=[group])
            for batch in batches:
                for row in batch.to_pylist():
                    if not shown.add(json.dumps(to_json(row)).encode()):
                        return False
    except (pa.ArrowException, OSError) as exc:
        return shown.stop(f"{uri}: not a readable Parquet file ({exc})")
    return True


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
    conn: Conn,
    *,
    org: str,
    dataset: str,
    version: int | None = None,
    store: ObjectStore | None = None,
) -> dict[str, Any]:
    """Re-hash a version's files against its manifest, those in the object store through
    `store` (streamed): `problems` names what is missing, altered or unverified (no digest
    recorded, or in no store at hand); empty: every file verifies."""
    found = _version(conn, org, dataset, version, None)
    manifest = found["manifest"] or {}
    return {
        "dataset": dataset,
        "version": found["version"],
        "files": len(manifest.get("files", [])),
        "problems": verify_files(manifest, store),
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
