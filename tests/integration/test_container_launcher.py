"""The container launcher (podman + runc): the same contract, a DAG across a Python SDK job and a
plain Node.js job in containers, and no network unless declared (the `images` fixture is in
conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from tests.runtime import EXAMPLES, TEST_JOBS, apply, request_run, running_runner, runs, wait_for
from tests.tenants import Tenants


def container(image: str, *command: str) -> dict[str, Any]:
    return {"kind": "container", "image": image, "command": list(command)}


def test_a_dag_runs_in_containers(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, images: dict[str, str]
) -> None:
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        EXAMPLES / "numbers" / "job.yaml",
        launcher=container(images["numbers"], "python3", "job.py"),
    )
    apply(
        tenants,
        writer,
        EXAMPLES / "js_sum" / "job.yaml",
        input_datasets=["numbers"],
        launcher=container(images["js_sum"], "node", "job.js"),
    )
    org = tenants.org_ids["b"]
    with running_runner(tenants, tmp_path):
        request_run(tenants, writer, "numbers", {"count": 4})
        done = wait_for(
            lambda: (lambda rs: rs if len(rs) == 2 else None)(
                [r for r in runs(admin, org) if r["status"] in ("succeeded", "dead")]
            ),
            timeout=120,
        )
    assert [r["status"] for r in done] == ["succeeded", "succeeded"], [r["error"] for r in done]
    js_sum = done[1]
    result = json.loads(Path(urlparse(js_sum["outputs"][0]["uris"][0]).path).read_text())
    assert result == {"total": 10, "rows": 4}


def test_a_container_job_cannot_connect_without_an_allow_list(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    listening_port: int,
) -> None:
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        TEST_JOBS / "behave.yaml",
        retries={"max_attempts": 1},
        launcher=container(images["behave"], "python3", "behave.py"),
    )
    with running_runner(tenants, tmp_path):
        run = request_run(tenants, writer, "behave", {"do": "connect", "port": listening_port})
        dead = wait_for(
            lambda: admin.execute(
                "SELECT error FROM runs.runs WHERE id = %s AND status = 'dead'", (run["id"],)
            ).fetchone(),
            timeout=120,
        )
    assert dead[0]["type"] in ("ConnectionRefusedError", "OSError", "TimeoutError")
