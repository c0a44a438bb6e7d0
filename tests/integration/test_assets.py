"""Assets: a four-node DAG (src -> a -> b -> c) materialized from three versions of its source,
then rolled back to version 1; versions, exact lineage, idempotent content, manifests that
`verify` checks, and clear refusals for bad rollbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

from chainlake import assets
from chainlake.errors import InvalidInput, NotFound
from chainlake.manifests import verify
from tests.runtime import TEST_JOBS, apply, request_run, running_runner, runs, scalar, wait_for
from tests.tenants import Tenants, User

CHAIN = [("src", None), ("a", "src"), ("b", "a"), ("c", "b")]


def define_chain(tenants: Tenants, writer: User) -> None:
    for name, upstream in CHAIN:
        overrides: dict[str, Any] = {
            "name": name,
            "output_datasets": [f"{name}_data"],
            "config": {"output": f"{name}_data"},
        }
        if upstream:  # (None drops the source's activation)
            overrides |= {
                "kind": "reactive",
                "input_datasets": [f"{upstream}_data"],
                "activation": None,
            }
        apply(tenants, writer, TEST_JOBS / "derive.yaml", **overrides)


def settle(tenants: Tenants, admin: psycopg.Connection[Any], org: str, total: int) -> None:
    wait_for(
        lambda: (
            lambda rs: len(rs) >= total and all(r["status"] in ("succeeded", "dead") for r in rs)
        )(runs(admin, org)),
        timeout=90,
    )
    assert {r["status"] for r in runs(admin, org)} == {"succeeded"}


def current(conn: psycopg.Connection[Any], org: str) -> dict[str, int]:
    return {
        r["name"]: r["current_version"]
        for r in assets.list_datasets(conn, org)
        if r["name"].endswith("_data")
    }


def test_versions_rollback_and_exact_lineage(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    writer = tenants.user("b", "writer")
    define_chain(tenants, writer)
    org = tenants.org_ids["b"]
    with running_runner(tenants, tmp_path):
        for n, value in enumerate((1, 2, 3), start=1):
            request_run(tenants, writer, "src", {"value": value})
            settle(tenants, admin, org, 4 * n)
        with tenants.login(writer) as conn:
            assert current(conn, "b") == {"src_data": 3, "a_data": 3, "b_data": 3, "c_data": 3}
            queued = assets.rollback(conn, "b", "src_data", 1)
        assert queued == 1  # a reads src_data
        settle(tenants, admin, org, 12 + 3)
    with tenants.login(writer) as conn:
        # identical inputs gave identical bytes: the old versions became current again
        assert current(conn, "b") == {"src_data": 1, "a_data": 1, "b_data": 1, "c_data": 1}
        assert [v["version"] for v in assets.versions(conn, "b", "c_data")] == [1, 2, 3]
        for version in (1, 2, 3):
            graph = assets.lineage(conn, "b", "c_data", version, downstream=False, depth=5)
            chain = [
                (
                    e["input_dataset"],
                    e["input_version"],
                    e["job"],
                    e["output_dataset"],
                    e["output_version"],
                )
                for e in graph["edges"]
            ]
            assert chain == [
                ("b_data", version, "c", "c_data", version),
                ("a_data", version, "b", "b_data", version),
                ("src_data", version, "a", "a_data", version),
            ]
        events = assets.openlineage_events(
            conn, "b", assets.lineage(conn, "b", "c_data", 3, downstream=False, depth=5)
        )
        assert [e["job"]["name"] for e in events] == ["c", "b", "a"]
        for event in events:
            assert event["eventType"] == "COMPLETE" and event["run"]["runId"]
            assert event["schemaURL"].endswith("#/definitions/RunEvent")
            assert event["job"]["namespace"] == "chainlake://b"
        assert events[0]["inputs"][0]["name"] == "b_data"
        assert events[0]["inputs"][0]["facets"]["version"]["datasetVersion"] == "3"
        down = assets.lineage(conn, "b", "src_data", 2, downstream=True, depth=2)
        assert [(e["output_dataset"], e["output_version"]) for e in down["edges"]] == [
            ("a_data", 2),
            ("b_data", 2),
        ]


def test_verify_names_a_tampered_and_a_deleted_file(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    writer = tenants.user("b", "writer")
    apply(tenants, writer, TEST_JOBS / "derive.yaml")
    with running_runner(tenants, tmp_path):
        request_run(tenants, writer, "derive", {"value": 7})
        settle(tenants, admin, tenants.org_ids["b"], 1)
    with tenants.login(writer) as conn:
        version, manifest = assets.manifest(conn, "b", "derived", None)
    assert version == 1 and verify(manifest) == []
    (entry,) = manifest["files"]
    path = Path(urlparse(entry["uri"]).path)
    assert (path.parent.parent / "_manifest.json").exists()
    path.write_text("tampered\n")
    assert verify(manifest) == [f"altered: {entry['uri']} (sha256 differs from the manifest)"]
    path.unlink()
    assert verify(manifest) == [f"missing: {entry['uri']}"]


def test_bad_rollbacks_are_refused_and_change_nothing(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    with tenants.login(tenants.user("b", "writer")) as conn:
        with pytest.raises(NotFound, match='dataset "ds_b_seed" has no version 9'):
            assets.rollback(conn, "b", "ds_b_seed", 9)
        with pytest.raises(NotFound, match='unknown dataset "nope"'):
            assets.rollback(conn, "b", "nope", 1)
        with pytest.raises(NotFound):  # another org's dataset: not visible, not touchable
            assets.rollback(conn, "a", "ds_a_seed", 1)
        with pytest.raises(NotFound, match='unknown dataset "nope"'):
            assets.versions(conn, "b", "nope")
    assert admin.execute(
        "SELECT count(*) FROM audit.events WHERE action = 'asset.rollback'"
    ).fetchone() == (0,)


def test_staleness_and_preview(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    writer = tenants.user("b", "writer")
    define_chain(tenants, writer)
    org = tenants.org_ids["b"]
    with running_runner(tenants, tmp_path):
        for n, value in enumerate((1, 2), start=1):
            request_run(tenants, writer, "src", {"value": value})
            settle(tenants, admin, org, 4 * n)
    with tenants.login(writer) as conn:
        assert {
            r["dataset"]: r["stale"]
            for r in assets.staleness(conn, "b")
            if r["dataset"].endswith("_data")
        } == dict.fromkeys(["a_data", "b_data", "c_data", "src_data"], False)
        shown = assets.preview(conn, "b", "a_data", 1, None, 5)
        assert shown["records"] == ["a() | src_data:src(1)"]
        assert assets.preview(conn, "b", "a_data", None, None, 5)["version"] == 2
    admin.execute(
        "UPDATE catalog.datasets SET current_version = 1 WHERE name = 'src_data' AND org_id = %s",
        (org,),
    )  # the upstream moved; nothing re-ran yet
    apply(
        tenants,
        writer,
        TEST_JOBS / "derive.yaml",
        name="c",
        version="2",
        kind="reactive",
        activation=None,
        input_datasets=["b_data"],
        output_datasets=["c_data"],
        config={"output": "c_data"},
    )
    with tenants.login(writer) as conn:
        stale = {r["dataset"]: r["reasons"] for r in assets.staleness(conn, "b") if r["stale"]}
    assert stale == {
        "a_data": ["input src_data is at version 1; this was built from version 2"],
        "c_data": ["job c is at version 2; this was built by version 1"],
    }


def test_reexecute_a_dag_run_from_its_failure(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    writer = tenants.user("b", "writer")
    define_chain(tenants, writer)
    apply(
        tenants,
        writer,
        TEST_JOBS / "derive.yaml",
        name="b",
        version="1-broken",
        kind="reactive",
        activation=None,
        input_datasets=["a_data"],
        output_datasets=["b_data"],
        config={"output": "b_data", "fail": True},
        retries={"max_attempts": 1},
    )
    org = tenants.org_ids["b"]
    with running_runner(tenants, tmp_path):
        root = request_run(tenants, writer, "src", {"value": 5})
        wait_for(
            lambda: [r for r in runs(admin, org) if r["job_name"] == "b" and r["status"] == "dead"]
        )
        assert [r["job_name"] for r in runs(admin, org)] == ["src", "a", "b"]  # c never ran
        apply(
            tenants,
            writer,
            TEST_JOBS / "derive.yaml",
            name="b",
            version="2",
            kind="reactive",
            activation=None,
            input_datasets=["a_data"],
            output_datasets=["b_data"],
            config={"output": "b_data"},
        )  # the fix, as a new code version
        with tenants.login(writer) as conn:
            assert scalar(conn, "SELECT runs.rerun_failed(%s)", root["id"]) == 1
            assert scalar(conn, "SELECT runs.rerun_failed(%s)", root["id"]) == 0  # in flight
        wait_for(
            lambda: [
                r for r in runs(admin, org) if r["job_name"] == "c" and r["status"] == "succeeded"
            ]
        )
    done = runs(admin, org)
    assert [(r["job_name"], r["job_version"], r["status"]) for r in done] == [
        ("src", "1", "succeeded"),
        ("a", "1", "succeeded"),
        ("b", "1-broken", "dead"),
        ("b", "2", "succeeded"),
        ("c", "1", "succeeded"),
    ]
    assert {r["trigger"].get("root_run") for r in done[1:]} == {str(root["id"])}


def test_a_job_writes_under_its_own_path_template(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        TEST_JOBS / "derive.yaml",
        output_path_template="{org_id}/by-job/{job}/{job_version}/{run_id}",
    )
    with running_runner(tenants, tmp_path):
        run = request_run(tenants, writer, "derive", {"value": 1})
        settle(tenants, admin, tenants.org_ids["b"], 1)
    (done,) = runs(admin, tenants.org_ids["b"])
    expected = tmp_path / tenants.org_ids["b"] / "by-job" / "derive" / "1" / str(run["id"])
    assert done["outputs"][0]["uris"] == [(expected / "derived" / "part-0.txt").as_uri()]
    assert (expected / "_manifest.json").exists()
    with pytest.raises(InvalidInput, match=r"must contain \{run_id\}"):
        apply(
            tenants,
            writer,
            TEST_JOBS / "derive.yaml",
            version="2",
            output_path_template="{org_id}/fixed",
        )
