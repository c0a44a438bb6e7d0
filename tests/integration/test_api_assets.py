"""Datasets through the API with the Python client: listed a page at a time, their versions, a
preview of a Parquet version, a rollback (audited; refused to readers and to other orgs, with
nothing changed), verify, lineage and status; bad input named and changing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.errors import InvalidInput, NotFound
from tests.integration.test_api_runs import client
from tests.integration.test_query_engine import add_dataset
from tests.runtime import scalar
from tests.tenants import Tenants


def two_versions(admin: psycopg.Connection[Any], tenants: Tenants, tmp_path: Path) -> str:
    """Org a's dataset `prices`: version 1 ([1, 2, 3]) and version 2 ([7]), 2 current."""
    org = tenants.org_ids["a"]
    add_dataset(admin, org, "prices", tmp_path / "store" / org / "p1.parquet", [1, 2, 3])
    add_dataset(admin, org, "other", tmp_path / "store" / org / "o1.parquet", [5])
    admin.execute(
        "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, content_hash,"
        " uris, row_count) SELECT org_id, id, 2, gen_random_uuid(), 'h2', %s, 1"
        " FROM catalog.datasets WHERE org_id = %s AND name = 'prices'",
        ([(tmp_path / "p2.parquet").as_uri()], org),
    )
    admin.execute(
        "UPDATE catalog.datasets SET current_version = 2 WHERE org_id = %s AND name = 'prices'",
        (org,),
    )
    return org


CURRENT = "SELECT current_version FROM catalog.datasets WHERE name = 'prices' AND org_id = %s"


def test_versions_preview_and_rollback(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    org = two_versions(admin, tenants, tmp_path)
    wes = client(api, tmp_path, tenants, "a", "writer")
    ann = client(api, tmp_path, tenants, "a", "reader")
    bob = client(api, tmp_path, tenants, "b", "admin")

    names, after = [], None
    for _ in range(10):  # a page of one at a time
        page = ann.list_assets(org="a", after=after, limit=1)
        names += [(d["name"], d["current_version"], d["versions"]) for d in page["items"]]
        after = page["next"]
        if after is None:
            break
        assert after == f"a/{names[-1][0]}"
    assert {("other", None, 1), ("prices", 2, 2)} <= set(names) and names == sorted(names)
    assert bob.list_assets(org="a")["items"] == []
    assert [v["version"] for v in ann.asset_versions(org="a", dataset="prices")] == [1, 2]

    shown = ann.preview_asset(org="a", dataset="prices", version=1, limit=2)
    assert shown["version"] == 1 and shown["records"] == ['{"n": 1}', '{"n": 2}']
    with pytest.raises(NotFound):
        bob.preview_asset(org="a", dataset="prices", version=1)

    with pytest.raises(NotFound):  # another org's dataset is unknown
        bob.rollback_asset(org="a", dataset="prices", version=1)
    with pytest.raises(NotFound):  # readers read
        ann.rollback_asset(org="a", dataset="prices", version=1)
    with pytest.raises(InvalidInput, match="version"):
        wes.request("POST", "/v1/assets/a/prices/rollback", json={"version": 0})
    with pytest.raises(InvalidInput, match="version"):
        wes.request("POST", "/v1/assets/a/prices/rollback", json={})
    assert scalar(admin, CURRENT, org) == 2, "nothing changed"
    done = wes.rollback_asset(org="a", dataset="prices", version=1)
    assert done == {"dataset": "prices", "version": 1, "queued": 0}
    assert scalar(admin, CURRENT, org) == 1
    assert scalar(admin, "SELECT count(*) FROM audit.events WHERE action = 'asset.rollback'") == 1

    verified = ann.verify_asset(org="a", dataset="prices")
    assert verified["version"] == 1 and verified["problems"] == []
    graph = ann.lineage(org="a", dataset="prices")
    assert graph == {"dataset": "prices", "version": 1, "direction": "upstream", "edges": []}
    assert ann.openlineage(org="a", dataset="prices") == []
    with pytest.raises(InvalidInput, match="direction"):
        ann.request("GET", "/v1/lineage/a/prices", params={"direction": "sideways"})
    with pytest.raises(NotFound):
        bob.lineage(org="a", dataset="prices")
    status = ann.asset_status(org="a", dataset="prices")
    assert [s["dataset"] for s in status] == ["prices"]
    with pytest.raises(NotFound, match="writes dataset"):  # `from` alone: that partition's
        ann.request("GET", "/v1/assets/a/prices/status", params={"from": "1"})
    with pytest.raises(NotFound):
        bob.asset_status(org="a", dataset="prices")


def test_preview_of_a_parquet_version_in_s3(
    tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """A version whose file is in the object store (S3, here SeaweedFS) previews like one on
    disk; a file that is gone previews as no records, not an error."""
    import io
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    from chainlake.local.s3 import SeaweedS3
    from tests.integration.conftest import serve_api

    org = tenants.org_ids["a"]
    server = SeaweedS3(tmp_path / "seaweed").start()
    try:
        store = server.store("chainlake", f"test-{uuid.uuid4().hex[:8]}")
        buffer = io.BytesIO()
        pq.write_table(pa.table({"n": [4, 5, 6]}), buffer)
        store.put(f"{org}/_runs/r/s3.parquet", buffer.getvalue())
        (ds,) = admin.execute(
            "INSERT INTO catalog.datasets (org_id, name, current_version) "
            "VALUES (%s, 'remote', 1) RETURNING id",
            (org,),
        ).fetchone() or (None,)
        for version, key in ((1, "s3.parquet"), (2, "gone.parquet")):
            admin.execute(
                "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, "
                "content_hash, uris) VALUES (%s, %s, %s, gen_random_uuid(), %s, %s)",
                (org, ds, version, f"h{version}", [store.uri(f"{org}/_runs/r/{key}")]),
            )
        with serve_api(tenants, tmp_path, store=store) as api:
            ann = client(api, tmp_path, tenants, "a", "reader")
            shown = ann.preview_asset(org="a", dataset="remote", limit=2)
            assert shown["version"] == 1 and shown["records"] == ['{"n": 4}', '{"n": 5}']
            assert ann.preview_asset(org="a", dataset="remote", version=2)["records"] == []
    finally:
        server.stop()
