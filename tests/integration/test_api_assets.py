"""Datasets through the API with the Python client: listed a page at a time, their versions, a
preview of a Parquet version, a rollback (audited; refused to readers and to other orgs, with
nothing changed), verify, lineage and status; bad input named and changing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.client import Client
from chainlake.errors import InvalidInput, NotFound
from tests.integration.conftest import token
from tests.integration.test_query_engine import add_dataset
from tests.runtime import scalar
from tests.tenants import Tenants


def client(api: str, tmp_path: Path, tenants: Tenants, org: str, role: str) -> Client:
    return Client(api, token(tmp_path, tenants.user(org, role)))


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
    with pytest.raises(InvalidInput, match="to"):
        ann.request("GET", "/v1/assets/a/prices/status", params={"from": "1"})
    with pytest.raises(NotFound):
        bob.asset_status(org="a", dataset="prices")
