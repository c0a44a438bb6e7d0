"""Issue 18 item 2 (jobs on a remote Docker-API engine), attacked as org b's writer: a runner that
dies mid-job (killed, its host lost) leaves the job's container running on the engine. When the
run is retried, the next attempt removes it (Attempt.remove_earlier); when it is not (its last
attempt, or cancelled meanwhile), nothing ever does: the container keeps running past its
timeout, holding the engine's memory, cpus and pids, and its volume keeps the job's files,
for as long as the job likes. A job of org b that sleeps is enough; a runner killed by anything
(an OOM caused by a job, a deploy) turns it into a container nobody stops.

Found: the deadline lived only in the runner's memory (Attempt.wait); nothing on the engine
or in another runner ended a container whose run was over. Fixed: every runner on a remote
engine removes, every REAP_EVERY_S, the containers and volumes of attempts that are over
(runs.attempt_outlived: ended, cancelled, retried, or their lease lapsed)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import psycopg

from tests.integration.test_container_launcher import container
from tests.integration.test_docker_engine import finished, remote
from tests.remote_engine import Engine
from tests.runtime import (
    TALKS_THEN_SLEEPS,
    TEST_JOBS,
    apply,
    killed_runner,
    request_run,
    wait_for,
)
from tests.tenants import Tenants


def _running(engine: Engine, run_id: str) -> list[Any]:
    return [c for c in engine.containers_of(run_id) if c.get("State") == "running"]


def test_a_container_whose_runner_died_does_not_outlive_its_run(
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
        name="sleeper",
        launcher=container(images["behave"], "python3", "-c", TALKS_THEN_SLEEPS),
        retries={"max_attempts": 1},
        timeout_seconds=10,
    )
    engine = ("--lease-seconds", "6", "--container-engine", remote_engine.address)
    with killed_runner(tenants, tmp_path, *engine):  # the runner dies with the job running
        run = request_run(tenants, writer, "sleeper")
        wait_for(lambda: _running(remote_engine, run["id"]), timeout=120, every=0.5)
    try:
        with remote(tenants, tmp_path, remote_engine, lease_seconds=6):
            dead = finished(admin, run["id"], timeout=120)  # its lease ran out: the run is over
            assert dead["status"] == "dead"
            gone = wait_for(
                lambda: not _running(remote_engine, run["id"]) or None, timeout=60, every=1
            )
        assert gone, "ended"
    except AssertionError as exc:
        left = _running(remote_engine, run["id"])
        raise AssertionError(
            f"org b's container is still running on the engine after its run is dead and its "
            f"10 s timeout passed: {[c['Names'] for c in left]}"
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            for found in remote_engine.containers_of(run["id"]):
                remote_engine.client().api.remove_container(found["Id"], force=True, v=True)


def _volumes_of(engine: Engine, run_id: str) -> list[Any]:
    label = f"chainlake.run={run_id}"
    return list(engine.client().api.volumes(filters={"label": label}).get("Volumes") or [])


def test_nothing_of_a_run_stays_on_the_engine_however_it_ends(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    """Success, failure, timeout and cancel: neither the container nor the volume that held the
    run's inputs and outputs is left for a later run to find (held)."""
    writer = tenants.user("b", "writer")
    commands = {
        "succeeds": ["python3", "behave.py"],
        "fails": ["python3", "-c", "import sys; sys.stdin.read(); sys.exit(3)"],
        "times_out": ["python3", "-c", TALKS_THEN_SLEEPS],
        "cancelled": ["python3", "-c", TALKS_THEN_SLEEPS],
    }
    for name, argv in commands.items():
        apply(
            tenants,
            writer,
            TEST_JOBS / "behave.yaml",
            name=name,
            launcher=container(images["behave"], *argv),
            retries={"max_attempts": 1},
            timeout_seconds=8 if name == "times_out" else 120,
        )
    with remote(tenants, tmp_path, remote_engine, concurrency=4, slots_per_org=4):
        asked = {name: request_run(tenants, writer, name)["id"] for name in commands}
        wait_for(lambda: _running(remote_engine, asked["cancelled"]), timeout=120, every=0.5)
        admin.execute("SELECT runs.cancel(%s)", (str(asked["cancelled"]),))
        try:
            ended = {n: finished(admin, r) for n, r in asked.items() if n != "cancelled"}
        except AssertionError:
            states = admin.execute(
                "SELECT job_name, status, error FROM runs.runs WHERE org_id = %s",
                (tenants.org_ids["b"],),
            ).fetchall()
            raise AssertionError(f"not all ended: {states}") from None
        wait_for(lambda: not remote_engine.containers_of(asked["cancelled"]), timeout=60, every=1)
    assert ended["succeeds"]["status"] == "succeeded", ended["succeeds"]["error"]
    assert ended["times_out"]["error"]["type"] == "Timeout", ended["times_out"]["error"]
    for name, run_id in asked.items():
        assert remote_engine.containers_of(run_id) == [], f"{name}: a container stayed"
        assert _volumes_of(remote_engine, run_id) == [], f"{name}: its volume stayed"
