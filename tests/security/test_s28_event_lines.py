"""Issue 18 item 2 (jobs on a remote Docker-API engine), attacked as org b's writer: what a
container writes to stdout and stderr comes back to the runner, which holds it in memory. The
runner is shared by every org; a job that writes one endless line (no newline) or huge stderr
lines must be stopped at a bound, named, as the service launcher does (SERVICE_LINE_LIMIT,
1 MB a line), not held whole in the runner's memory.

Found: runner/docker_engine.py's relay_events appends every chunk to `pending` until a newline
comes (unbounded, and quadratic: `pending += chunk`); stderr_tail asks the engine for the last
200 lines with no byte bound and decodes all of them before keeping 4000 characters. The line
is also split again at every chunk (quadratic): 8 MB in 1 KB chunks costs the runner about 30 s
of a core, so an 8 MB line outlives a 30 s deadline, and the kill then fails with the engine's
own 500 instead of "past its timeout"."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any, cast

import psycopg

from runner.docker_engine import Attempt, DockerLauncher
from tests.integration.test_container_launcher import container
from tests.integration.test_docker_engine import finished, remote
from tests.remote_engine import Engine
from tests.runtime import TEST_JOBS, apply, request_run
from tests.tenants import Tenants

MB = 1 << 20
# 8 MB on stdout in 1 MB writes and never a newline, then a clean exit
ENDLESS_LINE = (
    "import sys; sys.stdin.read(); "
    "[sys.stdout.write('x' * (1 << 20)) or sys.stdout.flush() for _ in range(8)]"
)
# 12 lines of 2 MB each on stderr, then a failure (the runner keeps the stderr's tail)
LOUD_STDERR = (
    "import sys; [sys.stderr.write('e' * (2 << 20) + chr(10)) for _ in range(12)]; sys.exit(3)"
)


def test_an_endless_stdout_line_is_cut_at_a_bound_and_named(
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
        name="endless",
        launcher=container(images["behave"], "python3", "-c", ENDLESS_LINE),
        retries={"max_attempts": 1},
        timeout_seconds=30,
    )
    with remote(tenants, tmp_path, remote_engine):
        run = request_run(tenants, writer, "endless")
        dead = finished(admin, run["id"], timeout=240)
    assert dead["status"] == "dead"
    message = dead["error"]["message"]
    assert "MB" in message and "line" in message, (
        f"an 8 MB line was taken whole into the runner's memory: {message[:300]}"
    )


def test_the_stderr_tail_is_read_within_a_bound(tmp_path: Path, remote_engine: Engine) -> None:
    """24 MB of stderr (12 lines): the runner keeps 4000 characters of it, and reads no more
    than a few MB from the engine to get them."""
    client = remote_engine.client()
    image = next(i for i in client.images.list() if any("behave" in t for t in i.tags))
    made = client.containers.create(image, ["python3", "-c", LOUD_STDERR], user="65534")
    try:
        made.start()
        made.wait(timeout=120)
        launcher = DockerLauncher(remote_engine.address, tmp_path, cast(Any, None))
        attempt = Attempt(launcher, {"run_id": "x", "attempt": 1}, {}, tmp_path, print)
        attempt.container_id = made.id
        tracemalloc.start()
        tail = attempt.stderr_tail()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        made.remove(force=True)
    assert len(tail) <= 4000 and tail.endswith("e\n")
    assert peak < 8 * MB, f"the runner held {peak / MB:.0f} MB to keep a 4000-character tail"
