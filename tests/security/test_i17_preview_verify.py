"""Issue 17's asset preview and verify (GET /v1/assets/{org}/{dataset}/preview, POST .../verify)
against org "evil"'s own
files (SECURITY.md items 22 and 23: one tenant's bad file must cost only that tenant). `limit`
bounds the records, not their size: a text record is a line read whole, so a version whose file
is one long line (what any job of the org may write in its own prefix: the runner accepts it)
makes the shared API read it all into memory and send it back, for each preview, from any
reader of the org. The file here is what the runner would have recorded (under the org's run
prefix, a regular file); the preview is a real request to the API on a real port."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from tests.integration.conftest import send, token
from tests.tenants import Tenants

LINE_BYTES = 48 * 1024 * 1024  # one record of 48 MiB (any job may write it)
PREVIEW_CAP = 1024 * 1024  # a preview of one record should stay well under this


def one_line_version(admin: psycopg.Connection[Any], org_id: str, path: Path) -> None:
    """Org b's dataset `wide`, version 1: one JSON line of LINE_BYTES bytes, under its prefix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(b'{"x": "')
        for _ in range(LINE_BYTES // (1 << 20)):
            out.write(b"a" * (1 << 20))
        out.write(b'"}\n')
    (ds,) = admin.execute(
        "INSERT INTO catalog.datasets (org_id, name, current_version) VALUES (%s, 'wide', 1)"
        " RETURNING id",
        (org_id,),
    ).fetchone() or (None,)
    admin.execute(
        "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, content_hash,"
        " uris, row_count) VALUES (%s, %s, 1, gen_random_uuid(), 'w', %s, 1)",
        (org_id, ds, [path.as_uri()]),
    )


def test_a_preview_of_one_record_is_bounded_in_size(
    api: str, tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    org_id = tenants.org_ids["b"]
    one_line_version(admin, org_id, tmp_path / "store" / org_id / "_runs" / "r" / "wide.jsonl")
    reader = token(tmp_path, tenants.user("b", "reader"))
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{api}/v1/assets/b/wide/preview?limit=1", headers={"Authorization": f"Bearer {reader}"}
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
        status, size = response.status, len(response.read())
    took = time.monotonic() - started
    assert status == 200
    assert size < PREVIEW_CAP, (
        f"a preview of limit=1 sent {size} bytes in {took:.1f} s: each record is read and "
        "returned whole (the API holds it in memory several times: the line, the JSON)"
    )


def test_verify_of_a_version_in_the_object_store_checks_its_files(
    api: str, tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """docs/assets.md: verify "re-hashes every file and names each one that is missing or
    altered". For a file in the object store (S3) the runner records no digest
    (chainlake/manifests.py `describe`) and `verify` skips it: a version whose every file is
    gone, or was replaced in the bucket, verifies clean (`problems: []`), through the API as
    through the CLI. It should hash what it can reach, or say which files it could not check."""
    org_id = tenants.org_ids["b"]
    uri = f"s3://chainlake/{org_id}/_runs/r/gone.parquet"  # no such object anywhere
    manifest = {"dataset": "cold", "files": [{"uri": uri}], "rows": 1}
    (ds,) = admin.execute(
        "INSERT INTO catalog.datasets (org_id, name, current_version) VALUES (%s, 'cold', 1)"
        " RETURNING id",
        (org_id,),
    ).fetchone() or (None,)
    admin.execute(
        "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, content_hash,"
        " uris, manifest, row_count) VALUES (%s, %s, 1, gen_random_uuid(), 'c', %s, %s, 1)",
        (org_id, ds, [uri], json.dumps(manifest)),
    )
    reader = token(tmp_path, tenants.user("b", "reader"))
    status, verified = send(api, "POST", "/v1/assets/b/cold/verify", reader, {})
    assert status == 200, verified
    assert verified["files"] == 1
    assert verified["problems"], f"a version whose only file does not exist verified: {verified}"
