"""Issue 18 item 2 (jobs on a remote Docker-API engine), attacked as org b's writer: a job that
writes nothing to stdout. The remote launcher asks the engine for the container's log stream
(follow) before it starts watching the container; podman's API sends that answer's headers only
with the first line the container writes, and the runner's stream client has no read timeout.
So a silent job is never watched: its timeout never kills it, a cancel never stops it, and it
holds one of the runner's slots (and the engine's memory and cpus) for as long as it likes; a
few of them hold every slot org b may take on the runner, and a draining runner waits on them.

Found: runner/docker_engine.py's Attempt.start calls logs(stream=True, follow=True), which
blocks until the container's first stdout byte, before Attempt.wait runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.integration.test_container_launcher import container
from tests.integration.test_docker_engine import finished, remote
from tests.remote_engine import Engine
from tests.runtime import TEST_JOBS, apply, request_run, wait_for
from tests.tenants import Tenants

SILENT = "import sys, time; sys.stdin.read(); time.sleep(600)"


def test_a_silent_job_is_killed_at_its_timeout(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        TEST_JOBS / "behave.yaml",
        name="silent",
        launcher=container(images["behave"], "python3", "-c", SILENT),
        retries={"max_attempts": 1},
        timeout_seconds=5,
    )
    with remote(tenants, tmp_path, remote_engine):
        run = request_run(tenants, writer, "silent")
        try:
            dead = finished(admin, run["id"], timeout=90)
        except AssertionError:
            status = admin.execute("SELECT status FROM runs.runs WHERE id = %s", (run["id"],))
            raise AssertionError(
                f"org b's silent job is still {status.fetchone()} 90 s after its 5 s timeout; "
                f"its container: {remote_engine.containers_of(run['id'])}"
            ) from None
        finally:
            for found in remote_engine.containers_of(run["id"]):  # the runner can drain
                remote_engine.client().api.remove_container(found["Id"], force=True, v=True)
    assert dead["status"] == "dead" and dead["error"]["type"] == "Timeout", dead["error"]
    assert wait_for(lambda: not remote_engine.containers_of(run["id"]), timeout=60, every=1)
