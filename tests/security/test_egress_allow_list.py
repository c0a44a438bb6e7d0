"""Egress allow-lists mean what they say (SECURITY.md item 24, finding M6): a tenant job that
declares `network: [host:port, ...]` reaches exactly those destinations, through its run's
egress proxy, and nothing else: not the loopback services of the machine (the chain node,
Postgres, the API), not the metadata address. Every refused connection is logged on the run.
In the process launcher and the container launcher alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

from chainlake import jobdefs
from chainlake.errors import InvalidInput
from tests.receivers import Tally, http_answer, tcp_server
from tests.runtime import EXAMPLES, TEST_JOBS, apply, request_run, running_runner
from tests.security.egress_kit import allow, before_the_rule, finished, log_messages, platform
from tests.tenants import Tenants

HOSTILE = EXAMPLES / "hostile" / "job.yaml"


@pytest.fixture
def allowed(admin: psycopg.Connection[Any]) -> Iterator[Tally]:
    """A server the operator allows (127.0.0.1:its port) and the job declares."""
    with tcp_server(http_answer("200 OK", b"hello")) as server:
        allow(admin, f"127.0.0.1:{server.port}")
        yield server


@pytest.fixture
def forbidden() -> Iterator[Tally]:
    """A server on the machine the job does not declare: where the node, Postgres or the API
    would listen. It must never see a connection."""
    with tcp_server(http_answer("200 OK", b"ESCAPED: the forbidden server answered")) as server:
        yield server


def launchers(images: dict[str, str] | None) -> dict[str, dict[str, Any]]:
    return {
        "process": {
            "kind": "process",
            "command": ["python3", "egress.py"],
            "workdir": str(TEST_JOBS),
        },
        **(
            {
                "container": {
                    "kind": "container",
                    "image": images["behave"],
                    "command": ["python3", "egress.py"],
                }
            }
            if images
            else {}
        ),
    }


def egress_spec(launcher: dict[str, Any], network: list[str]) -> dict[str, Any]:
    return {
        "name": "egress",
        "version": launcher["kind"],
        "kind": "source",
        "activation": "manual",
        "type": "ingest",
        "output_datasets": ["egress_out"],
        "launcher": launcher,
        "network": network,
        "retries": {"max_attempts": 1},
        "timeout_seconds": 60,
    }


def run_egress_job(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    storage: Path,
    launcher: dict[str, Any],
    network: list[str],
    params: dict[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """One run of tests/jobs/egress.py as org b's writer (it must succeed): what the job found,
    and the run's log messages."""
    writer = tenants.user("b", "writer")
    with tenants.login(writer) as conn:
        jobdefs.apply(conn, tenants.org_ids["b"], egress_spec(launcher, network))
    with running_runner(tenants, storage):
        run = finished(admin, request_run(tenants, writer, "egress", params)["id"])
    assert run["status"] == "succeeded", run["error"]
    found = json.loads(Path(urlparse(run["outputs"][0]["uris"][0]).path).read_text())
    return found, log_messages(admin, run["id"])


@pytest.mark.parametrize("kind", ["process", "container"])
def test_a_job_reaches_its_declared_destination_and_nothing_else(
    request: pytest.FixtureRequest,
    kind: str,
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    allowed: Tally,
    forbidden: Tally,
) -> None:
    images = request.getfixturevalue("images") if kind == "container" else None
    here, there = f"127.0.0.1:{allowed.port}", f"127.0.0.1:{forbidden.port}"
    found, logs = run_egress_job(
        tenants,
        admin,
        tmp_path / "storage",
        launchers(images)[kind],
        [here],
        {
            "fetch": [f"http://{here}/", f"http://{there}/"],
            "connect": [["127.0.0.1", allowed.port], ["127.0.0.1", forbidden.port]],
        },
    )
    assert found["fetch"][f"http://{here}/"] == {"status": 200, "body": "hello"}
    assert found["connect"][here] == {"status": 200, "body": "hello"}
    assert "403" in found["fetch"][f"http://{there}/"]["error"], found
    assert found["connect"][there] == {
        "error": f"ConnectionRefusedError: egress refused: {there} (not in network)"
    }
    assert forbidden.connections == 0, "an undeclared destination was reached"
    assert allowed.connections == 2
    refusals = [m for m in logs if m.startswith("egress refused:")]
    assert refusals == [f"egress refused: {there} (not in network)"] * 2, logs


@pytest.mark.parametrize("kind", ["process", "container"])
def test_the_hostile_job_reaches_no_loopback_service_or_metadata_address(
    request: pytest.FixtureRequest,
    kind: str,
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    allowed: Tally,
    forbidden: Tally,
) -> None:
    """It declares an allowed host:port, then attacks: 127.0.0.1:<the node's, Postgres' or the
    API's port> and 169.254.169.254:80, directly and through its egress proxy."""
    writer = tenants.user("b", "writer")
    overrides: dict[str, Any] = {"network": [f"127.0.0.1:{allowed.port}"], "version": kind}
    if kind == "container":
        image = request.getfixturevalue("images")["hostile"]
        overrides["launcher"] = {
            "kind": "container",
            "image": image,
            "command": ["python3", "job.py"],
        }
    apply(tenants, writer, HOSTILE, **overrides)
    with running_runner(tenants, tmp_path / "storage"):
        ids = {
            attack: request_run(
                tenants, writer, "hostile", {"attack": attack, "port": forbidden.port}
            )["id"]
            for attack in ("egress_loopback", "egress_metadata")
        }
        runs = {attack: finished(admin, run_id) for attack, run_id in ids.items()}
    for attack, target in (
        ("egress_loopback", f"127.0.0.1:{forbidden.port}"),
        ("egress_metadata", "169.254.169.254:80"),
    ):
        run = runs[attack]
        error = run["error"] or {}
        assert (run["status"], error.get("type")) == ("dead", "PermanentError"), (attack, run)
        assert error["message"].startswith(f"egress blocked: {target}: directly: "), error
        assert (
            f"through the egress proxy: ConnectionRefusedError: egress refused: {target} "
            "(not in network)" in error["message"]
        ), error
        assert f"egress refused: {target} (not in network)" in log_messages(admin, run["id"])
        assert not [m for m in log_messages(admin, run["id"]) if "ESCAPED" in m]
    assert forbidden.connections == 0


def test_a_declared_destination_is_still_checked_when_the_job_uses_it(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, forbidden: Tally
) -> None:
    """A definition stored before the rule (or by a path around it) that declares one of the
    platform's own services is refused at connect time, by the guarded client's rules."""
    target = f"127.0.0.1:{forbidden.port}"
    platform(admin, target)
    allow(admin, target)  # an operator's mistake: the platform's own services stay refused
    writer = tenants.user("b", "writer")
    spec = egress_spec(launchers(None)["process"], [target])
    with (
        before_the_rule(admin, "jobs.definitions", "definitions_egress_checked"),
        tenants.login(writer) as conn,
    ):
        jobdefs.apply(conn, tenants.org_ids["b"], spec)
    with running_runner(tenants, tmp_path / "storage"):
        run = finished(
            admin,
            request_run(tenants, writer, "egress", {"connect": [["127.0.0.1", forbidden.port]]})[
                "id"
            ],
        )
    found = json.loads(Path(urlparse(run["outputs"][0]["uris"][0]).path).read_text())
    why = f"{target} is one of the platform's own services"
    assert found["connect"][target] == {
        "error": f"ConnectionRefusedError: egress refused: {target} ({why})"
    }
    assert f"egress refused: {target} ({why})" in log_messages(admin, run["id"])
    assert forbidden.connections == 0


@pytest.mark.parametrize(
    ("network", "says"),
    [
        (["*"], 'network[0]: "*" (any destination) is for the platform\'s own jobs'),
        (["api.example.com:443", "127.0.0.1"], 'network[1]: refused: "127.0.0.1" is not host:port'),
        (["127.0.0.1:5"], "network[0]: refused: 127.0.0.1 is a loopback address"),
        (
            ["169.254.169.254:80"],
            "network[0]: refused: 169.254.169.254 is the cloud metadata address",
        ),
        (["localhost:8080"], "network[0]: refused: localhost is a loopback name"),
    ],
)
def test_a_tenant_declares_exact_public_destinations_only(
    tenants: Tenants, admin: psycopg.Connection[Any], network: list[str], says: str
) -> None:
    writer = tenants.user("b", "writer")
    spec = jobdefs.load(TEST_JOBS / "behave.yaml") | {"name": "leaky", "network": network}
    with tenants.login(writer) as conn, pytest.raises(InvalidInput) as refused:
        jobdefs.apply(conn, tenants.org_ids["b"], spec)
    assert says in refused.value.message, refused.value.message
    stored = admin.execute("SELECT count(*) FROM jobs.definitions WHERE name = 'leaky'").fetchone()
    assert stored == (0,)
