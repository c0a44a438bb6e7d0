"""The container launcher (podman + runc): the same contract, a DAG across a Python SDK job and a
plain Node.js job in containers, and no network unless declared (the `images` fixture is in
conftest.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from chainlake.containers import PODMAN
from tests.runtime import (
    EXAMPLES,
    TALKS_THEN_SLEEPS,
    TEST_JOBS,
    apply,
    killed_runner,
    request_run,
    running_runner,
    runs,
    wait_for,
)
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


def _container_running(name: str) -> bool:
    found = subprocess.run(
        [*PODMAN, "ps", "--filter", f"name=^{name}$", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return name in found.stdout.split()


def test_a_container_ends_at_its_deadline_when_its_runner_died(
    tenants: Tenants, tmp_path: Path, images: dict[str, str]
) -> None:
    """The runner kills a container at its deadline; a runner killed (an OOM, a deploy) cannot,
    so the engine holds the deadline too (podman --timeout): org b's sleeping job does not keep
    the host's memory and cpus once its run's time is up."""
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        TEST_JOBS / "behave.yaml",
        name="sleeper",
        launcher=container(images["behave"], "python3", "-c", TALKS_THEN_SLEEPS),
        retries={"max_attempts": 1},
        timeout_seconds=5,
    )
    name = ""
    with killed_runner(tenants, tmp_path):  # the runner dies with the job running
        run = request_run(tenants, writer, "sleeper")
        name = f"chainlake-{run['id']}-1"
        wait_for(lambda: _container_running(name), timeout=120, every=0.5)
    try:
        wait_for(lambda: not _container_running(name), timeout=60, every=1)
    except AssertionError:
        raise AssertionError("the container still runs a minute after its 5 s deadline") from None
    finally:
        subprocess.run([*PODMAN, "rm", "-f", name], capture_output=True, check=False)
