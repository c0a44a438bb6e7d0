"""Issue 18 item 2 (jobs on a remote Docker-API engine), attacked as org b's writer: the runner
puts a run's file:// inputs into the container (put_archive). Before it does, the worker checks
that each input is inside the run's org's storage tree (Runner.inputs_outside_org, "defence in
depth: runs.request resolves inputs from the catalog"). That check reads the URI's path as it
is; the launchers (runner/docker_engine.py's rewritten, and the local podman launcher's
_mounts) percent-decode it. A catalog URI whose '..' is written %2E%2E passes the check as a
name inside org b's tree and is opened as org a's file.

Found: Runner.inputs_outside_org resolves Path(parsed.path), not Path(unquote(parsed.path)).
The catalog only records URIs the runner checked (unquoted), so this needs a row made another
way (an import, a migration, a bug elsewhere): the check that exists for exactly that case
does not hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.integration.test_container_launcher import container
from tests.integration.test_docker_engine import finished, remote
from tests.remote_engine import Engine
from tests.runtime import TEST_JOBS, apply
from tests.tenants import Tenants

# the job: every input file's first line, as a log event
READER = (
    "import json, sys, urllib.parse as u; request = json.load(sys.stdin); "
    "[print(json.dumps({'type': 'log', 'level': 'info', 'message': 'read ' + "
    "open(u.unquote(u.urlparse(x).path)).readline().strip()}), flush=True) "
    "for i in request['inputs'] for x in i['uris']]"
)


def _tricky_version(admin: psycopg.Connection[Any], org_id: str, uri: str) -> None:
    """A dataset of org b whose current version names `uri` (as an import would record it)."""
    (ds,) = admin.execute(
        "INSERT INTO catalog.datasets (org_id, name) VALUES (%s, 'tricky') RETURNING id",
        (org_id,),
    ).fetchone() or (None,)
    admin.execute(
        "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, content_hash, "
        "uris, row_count) VALUES (%s, %s, 1, gen_random_uuid(), 'h', %s, 1)",
        (org_id, ds, [uri]),
    )
    admin.execute("UPDATE catalog.datasets SET current_version = 1 WHERE id = %s", (ds,))


def test_an_encoded_climb_in_an_input_uri_does_not_reach_another_org(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    a, b = tenants.org_ids["a"], tenants.org_ids["b"]
    secret = tmp_path / a / "_runs" / "r" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("org a's secret\n")
    (tmp_path / b / "_runs" / "r").mkdir(parents=True)
    climb = "/".join(["%2E%2E"] * 3)
    _tricky_version(admin, b, f"file://{tmp_path}/{b}/_runs/r/{climb}/{a}/_runs/r/secret.txt")
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        TEST_JOBS / "behave.yaml",
        name="reader",
        input_datasets=["tricky"],
        launcher=container(images["behave"], "python3", "-c", READER),
        retries={"max_attempts": 1},
    )
    with remote(tenants, tmp_path, remote_engine):
        with tenants.login(writer) as conn:  # b's own dataset, named as its input
            row = conn.execute(
                "SELECT id FROM runs.request(%s, 'reader', p_inputs => %s)",
                (b, '[{"dataset": "tricky", "version": 1}]'),
            ).fetchone()
        assert row is not None
        dead = finished(admin, str(row[0]))
    leaked = admin.execute(
        "SELECT event->>'message' FROM runs.logs WHERE run_id = %s "
        "AND event->>'message' LIKE 'read %%'",
        (dead["id"],),
    ).fetchall()
    assert leaked == [], f"org b's job read org a's file on the runner: {leaked}"
    assert dead["status"] == "dead" and dead["error"]["type"] == "InputRejected", dead["error"]
    assert "outside the org's storage" in dead["error"]["message"]
