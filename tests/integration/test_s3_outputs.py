"""Object storage as the data plane (issue 18, item 1): with the runner's store on S3 (here a
real SeaweedFS), the example DAG writes every output to the bucket under its run's prefix, each
downstream job reads local copies of its inputs, and nothing stays on the runner's disk. A job
holds no store credential; what it names as an output must be a file it wrote in its own
prefix (no symbolic link, no second name, nothing outside), or the run fails naming it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.local.localpg import free_port
from chainlake.local.s3 import SeaweedS3
from chainlake.manifests import verify
from chainlake.storage import S3Store, key_of
from runner.staging import StagingError, stage_inputs
from tests.runtime import (
    EXAMPLES,
    TEST_JOBS,
    apply,
    request_run,
    running_runner,
    runs,
    wait_for,
)
from tests.tenants import Tenants


@pytest.fixture
def store(seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    """A fresh prefix of the bucket; the runner reaches it with the platform's credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    return seaweed.store("chainlake", f"t-{uuid.uuid4().hex[:8]}")


def _finished(admin: psycopg.Connection[Any], org: str, count: int) -> list[dict[str, Any]]:
    done = wait_for(
        lambda: (
            found
            if len(found := [r for r in runs(admin, org) if r["status"] in ("succeeded", "dead")])
            == count
            else None
        ),
        timeout=120,
    )
    assert done is not None
    return list(done)


def test_the_example_dag_runs_on_the_object_store(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, store: S3Store
) -> None:
    writer = tenants.user("b", "writer")
    for name in ("numbers", "double", "js_sum"):
        apply(tenants, writer, EXAMPLES / name / "job.yaml")
    org = tenants.org_ids["b"]
    disk = tmp_path / "disk"
    with running_runner(tenants, disk, concurrency=2, storage_url=store.url):
        request_run(tenants, writer, "numbers", {"count": 5})
        numbers, double, js_sum = _finished(admin, org, 3)
    assert [r["status"] for r in (numbers, double, js_sum)] == ["succeeded"] * 3, js_sum["error"]
    for run in (numbers, double, js_sum):
        prefix = f"{store.url}/{org}/_runs/{run['id']}/"
        uris = [u for o in run["outputs"] for u in o["uris"]]
        assert uris and all(u.startswith(prefix) for u in uris), uris
        manifest = json.loads(store.get(f"{org}/_runs/{run['id']}/_manifest.json"))
        for entry in manifest["outputs"][0]["files"]:
            stored = store.get(key_of(store, entry["uri"]) or "")
            assert hashlib.sha256(stored).hexdigest() == entry["sha256"]
            assert len(stored) == entry["bytes"]
        assert verify(manifest["outputs"][0], store) == []
        written = admin.execute(  # cost per org: the version's bytes are the objects' (issue 22)
            "SELECT bytes FROM catalog.asset_versions WHERE org_id = %s AND run_id = %s",
            (org, run["id"]),
        ).fetchone()
        assert written == (sum(f["bytes"] for f in manifest["outputs"][0]["files"]),)
    assert double["inputs"][0]["uris"] == numbers["outputs"][0]["uris"], "read from the bucket"
    result = json.loads(store.get(key_of(store, js_sum["outputs"][0]["uris"][0]) or ""))
    assert result == {"total": 30, "rows": 5}, "js_sum read double's output, staged from S3"
    assert not (disk / org / "_runs").exists() or not any((disk / org / "_runs").iterdir()), (
        "nothing stays on the runner's disk"
    )


def test_a_job_holds_no_store_credential_and_names_only_its_own_files(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, store: S3Store
) -> None:
    writer = tenants.user("a", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml")
    org = tenants.org_ids["a"]
    asked = ["environ", "link", "hardlink", "outside"]
    with running_runner(tenants, tmp_path / "disk", storage_url=store.url):
        for do in asked:
            request_run(tenants, writer, "behave", {"do": do})
        found = {r["params"]["do"]: r for r in _finished(admin, org, len(asked))}
    environ = found["environ"]
    assert environ["status"] == "succeeded", environ["error"]
    names = store.get(key_of(store, environ["outputs"][0]["uris"][0]) or "").decode().split()
    assert names and not [n for n in names if n.startswith("AWS_") or "STORAGE" in n], names
    for do, why in (
        ("link", "link.txt leads outside the run's prefix"),
        ("hardlink", "second.txt is a hard link (st_nlink 2)"),
        ("outside", "file:///etc/passwd"),
    ):
        run = found[do]
        assert run["status"] == "dead" and run["error"]["type"] == "OutputRejected", run["error"]
        assert why in run["error"]["message"], run["error"]["message"]
        assert store.keys(f"{org}/_runs/{run['id']}/") == [], "nothing of it was stored"


def test_an_input_outside_the_org_is_never_staged(store: S3Store, tmp_path: Path) -> None:
    store.put("org-b/_runs/r/ds/secret.txt", b"b's")
    item = {"dataset": "ds", "uris": [store.uri("org-b/_runs/r/ds/secret.txt")]}
    with pytest.raises(StagingError, match="outside the org's storage"):
        stage_inputs(store, "org-a", [item], tmp_path)
    elsewhere = {"dataset": "ds", "uris": ["s3://another-bucket/org-a/x.txt"]}
    with pytest.raises(StagingError, match="in no object store this runner reaches"):
        stage_inputs(store, "org-a", [elsewhere], tmp_path)
    assert not (tmp_path / "inputs").exists()


@pytest.mark.parametrize("process", ["runner", "api"])
def test_a_store_that_cannot_be_used_stops_the_process_at_start_with_one_line(
    process: str, tenants: Tenants, tmp_path: Path, seaweed: SeaweedS3
) -> None:
    """A storage URL whose endpoint does not answer, whose bucket does not exist, or whose key
    is wrong: the runner and the API refuse to start, in one line naming the bucket and the
    endpoint, and never print the key."""
    role = {"runner": "chainlake_runner", "api": "chainlake_api"}[process]
    url = tenants.cluster.url(tenants.database, role)
    args = {
        "runner": ["--database-url", url, "--storage-root", str(tmp_path / "root")],
        "api": ["--database-url", url, "--port", str(free_port()), "--home", str(tmp_path)],
    }[process]
    wrong_key = "not-the-key-" + uuid.uuid4().hex
    cases = {
        "no endpoint": ("chainlake", f"http://127.0.0.1:{free_port()}", seaweed.secret_key),
        "no bucket": ("no-such-bucket", seaweed.endpoint, seaweed.secret_key),
        "wrong key": ("chainlake", seaweed.endpoint, wrong_key),
    }
    for case, (bucket, endpoint, secret) in cases.items():
        env = {
            **os.environ,
            "CHAINLAKE_STORAGE_URL": f"s3://{bucket}/t",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": seaweed.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": secret,
        }
        done = subprocess.run(
            [sys.executable, "-m", process, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (case, done.stderr[-2000:])
        assert len(lines) == 1, (case, lines)
        assert (
            f"chainlake {process}: storage s3://{bucket}/t: bucket {bucket} at {endpoint}"
            in (lines[0])
        ), case
        assert secret not in done.stderr, case
