"""Previews bounded in bytes and verify true on the object store (issue 17, F3 and F4), on a
real SeaweedFS S3 server and on disk, through the API with the Python client: a long record is
cut (saying so) after reading little more than what is shown, a preview stops at its byte cap
(`truncated`), a Parquet row group over its cap is not read, and verify hashes store objects
(naming a missing, an altered or an unverifiable one, never passing it)."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg.types.json import Jsonb

from chainlake.domain.assets import PREVIEW_BYTES, READ_BLOCK, RECORD_BYTES, ROW_GROUP_BYTES
from chainlake.local.s3 import SeaweedS3
from chainlake.manifests import describe
from chainlake.storage import LocalStore, ObjectStore, RangedReader, S3Store
from tests.integration.conftest import serve_api
from tests.integration.test_api_runs import client
from tests.tenants import Tenants


class CountingS3(S3Store):
    """The real S3 store, counting the bytes it fetches (ranged, whole or streamed)."""

    fetched = 0

    def read_range(self, key: str, start: int, length: int) -> bytes:
        data = super().read_range(key, start, length)
        self.fetched += len(data)
        return data

    def get(self, key: str) -> bytes:
        data = super().get(key)
        self.fetched += len(data)
        return data


def s3_store(request: pytest.FixtureRequest) -> CountingS3:
    """A fresh prefix of the module's SeaweedFS server (test_chain_cold's fixture)."""
    server: SeaweedS3 = request.getfixturevalue("seaweed")
    return CountingS3(server.store("chainlake", f"test-{uuid.uuid4().hex[:8]}").settings)


def add_version(
    admin: psycopg.Connection[Any],
    org_id: str,
    name: str,
    uris: list[str],
    manifest: dict[str, Any] | None = None,
) -> None:
    (ds,) = admin.execute(
        "INSERT INTO catalog.datasets (org_id, name, current_version) VALUES (%s, %s, 1)"
        " RETURNING id",
        (org_id, name),
    ).fetchone() or (None,)
    admin.execute(
        "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, content_hash,"
        " uris, manifest) VALUES (%s, %s, 1, gen_random_uuid(), 'h', %s, %s)",
        (org_id, ds, uris, Jsonb(manifest or {})),
    )


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_both_stores_read_a_range_and_stream(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store: ObjectStore = LocalStore(tmp_path / "store") if kind == "local" else s3_store(request)
    body = bytes(range(256)) * 1000
    store.put("o/x.bin", body)
    assert store.size("o/x.bin") == len(body)
    assert store.read_range("o/x.bin", 10, 5) == body[10:15]
    assert store.read_range("o/x.bin", len(body) - 3, 100) == body[-3:]
    assert store.read_range("o/x.bin", len(body) + 10, 100) == b""
    assert b"".join(store.stream("o/x.bin", chunk=4096)) == body
    reader = io.BufferedReader(RangedReader(store, "o/x.bin"), buffer_size=1024)
    reader.seek(-4, io.SEEK_END)
    assert reader.read() == body[-4:]
    for missing in (
        lambda: store.size("o/gone"),
        lambda: store.read_range("o/gone", 0, 1),
        lambda: b"".join(store.stream("o/gone")),
    ):
        with pytest.raises(FileNotFoundError):
            missing()


def test_a_long_record_in_s3_is_cut_after_reading_little_more_than_it_shows(
    tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any], request: pytest.FixtureRequest
) -> None:
    org = tenants.org_ids["a"]
    store = s3_store(request)
    long_line = b'{"x": "' + b"a" * (3 << 20) + b'"}'
    store.put(f"{org}/_runs/r/wide.jsonl", long_line + b"\nshort\nlast\n")
    add_version(admin, org, "wide", [store.uri(f"{org}/_runs/r/wide.jsonl")])
    with serve_api(tenants, tmp_path, store=store) as api:
        ann = client(api, tmp_path, tenants, "a", "reader")
        one = ann.preview_asset(org="a", dataset="wide", limit=1)
        (record,) = one["records"]
        assert record.startswith('{"x": "aaa') and record.endswith(
            f" ... [record cut at {RECORD_BYTES} bytes]"
        )
        assert len(record) < RECORD_BYTES + 100 and one["truncated"] is False
        assert store.fetched <= 2 * READ_BLOCK, f"read {store.fetched} bytes for one record"
        shown = ann.preview_asset(org="a", dataset="wide", limit=3)
        assert shown["records"][1:] == ["short", "last"]


def test_a_preview_stops_at_its_byte_cap_saying_truncated(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    org = tenants.org_ids["a"]
    path = tmp_path / "store" / org / "_runs" / "r" / "many.jsonl"
    path.parent.mkdir(parents=True)
    line = b"b" * (RECORD_BYTES - 10)
    path.write_bytes((line + b"\n") * 40)  # 40 records of ~64 KiB: more than a preview holds
    add_version(admin, org, "many", [path.as_uri()])
    shown = client(api, tmp_path, tenants, "a", "reader").preview_asset(
        org="a", dataset="many", limit=1000
    )
    assert shown["truncated"] is True
    assert 0 < len(shown["records"]) < 40
    assert sum(len(r) for r in shown["records"]) <= PREVIEW_BYTES
    assert all(r == line.decode() for r in shown["records"])  # whole records, none cut


def test_parquet_previews_read_first_batches_and_refuse_a_huge_row_group(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    org = tenants.org_ids["a"]
    root = tmp_path / "store" / org / "_runs" / "r"
    root.mkdir(parents=True)
    pq.write_table(pa.table({"n": list(range(5000))}), root / "rows.parquet", row_group_size=1000)
    huge = "c" * (ROW_GROUP_BYTES + 1024)  # compresses to little on disk; huge once read
    pq.write_table(pa.table({"s": [huge]}), root / "huge.parquet")
    add_version(admin, org, "rows", [(root / "rows.parquet").as_uri()])
    add_version(admin, org, "huge", [(root / "huge.parquet").as_uri()])
    ann = client(api, tmp_path, tenants, "a", "reader")
    rows = ann.preview_asset(org="a", dataset="rows", limit=3)
    assert rows["records"] == ['{"n": 0}', '{"n": 1}', '{"n": 2}'] and not rows["truncated"]
    refused = ann.preview_asset(org="a", dataset="huge", limit=1)
    assert refused["records"] == [] and refused["truncated"] is True
    assert "row group 0" in refused["notes"][0] and "not read" in refused["notes"][0]


def test_verify_hashes_objects_in_the_store_and_names_each_bad_one(
    tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any], request: pytest.FixtureRequest
) -> None:
    """The runner's `describe` records a store object's size and SHA-256 (read through the
    store); verify re-hashes it there: clean, then altered, then missing; an entry recorded
    without a digest (versions written before) is named unverified, never passed."""
    org = tenants.org_ids["b"]
    store = s3_store(request)
    prefix = store.uri(f"{org}/_runs/r")
    store.put(f"{org}/_runs/r/a.jsonl", b'{"n": 1}\n')
    store.put(f"{org}/_runs/r/old.jsonl", b'{"n": 2}\n')
    output = {"dataset": "kept", "uris": [f"{prefix}/a.jsonl"], "rows": 1}
    manifest = describe(output, prefix, store)["manifest"]
    (entry,) = manifest["files"]
    assert entry["path"] == "a.jsonl" and entry["bytes"] == 9
    assert entry["sha256"] == hashlib.sha256(b'{"n": 1}\n').hexdigest()
    manifest["files"].append({"uri": f"{prefix}/old.jsonl"})  # written before digests
    add_version(admin, org, "kept", [f["uri"] for f in manifest["files"]], manifest)
    unverified = f"unverified: {prefix}/old.jsonl (the manifest records no sha256 for it)"
    with serve_api(tenants, tmp_path, store=store) as api:
        bob = client(api, tmp_path, tenants, "b", "reader")
        assert bob.verify_asset(org="b", dataset="kept")["problems"] == [unverified]
        store.put(f"{org}/_runs/r/a.jsonl", b'{"n": 666}\n')
        altered = bob.verify_asset(org="b", dataset="kept")
        assert altered["files"] == 2 and altered["problems"] == [
            f"altered: {prefix}/a.jsonl (sha256 differs from the manifest)",
            unverified,
        ]
        store.delete(f"{org}/_runs/r/a.jsonl")
        store.delete(f"{org}/_runs/r/old.jsonl")
        assert bob.verify_asset(org="b", dataset="kept")["problems"] == [
            f"missing: {prefix}/a.jsonl",
            f"missing: {prefix}/old.jsonl",
        ]
