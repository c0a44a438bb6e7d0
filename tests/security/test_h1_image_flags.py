"""H1: an image that is a podman flag (SECURITY.md item 20, tenant values in command lines).

Org "evil" (org b) set `image: "--volume=<storage root>:/host:rw"`: podman read it as a flag,
took the next command item as the image, and the job read and rewrote acme's (org a's) dataset
files. An image reference must now match a strict pattern (never starting with '-') where it is
stored and where it is used, and podman gets the image after `--`, so nothing a tenant sets is
ever read as one of its options."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake import jobdefs
from runner.launchers import ContainerLauncher
from tests.receivers import tcp_server
from tests.security.test_c1_path_traversal import (
    assert_refused_everywhere,
    finished_run,
    hostile_spec,
    store_as_before_the_fix,
)
from tests.tenants import Tenants

IMAGE_RULE = "launcher.image must be an image reference"
ACME_DATA = "acme-dataset-value-42"


def container(image: str, command: list[str] | None = None) -> dict[str, Any]:
    return {"kind": "container", "image": image, "command": command or ["python3", "job.py"]}


@pytest.mark.parametrize(
    "image",
    [
        "--volume=/srv/chainlake/data:/host:rw",
        "-v/:/host",
        "--privileged",
        "localhost/chainlake-job-hostile:1 --privileged",
        "localhost/chainlake-job-hostile:1\n--privileged",
        "localhost/Chainlake-job:1",
        "localhost/chainlake-job-hostile:1:rw",
        "",
    ],
)
def test_an_image_that_is_not_a_plain_reference_is_refused_when_applied(
    tenants: Tenants, admin: psycopg.Connection[Any], image: str
) -> None:
    assert_refused_everywhere(tenants, admin, hostile_spec(launcher=container(image)), IMAGE_RULE)


def test_ordinary_image_references_are_accepted(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    writer = tenants.user("b", "writer")
    for n, image in enumerate(
        (
            "localhost/chainlake-job-hostile:1",
            "registry.example.com:5000/team/job_a.b-c:v1.2.3",
            "python",
            "ghcr.io/org/job@sha256:" + "a" * 64,
        )
    ):
        with tenants.login(writer) as conn:
            jobdefs.apply(
                conn, tenants.org_ids["b"], hostile_spec(version=f"i{n}", launcher=container(image))
            )


def test_a_flag_image_stored_before_the_fix_reaches_no_files_of_another_org(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, images: dict[str, str]
) -> None:
    """The reported attack, already stored: the runner refuses the definition (its error names
    launcher.image); acme's file is neither read nor changed."""
    storage = tmp_path / "storage"
    acme_file = storage / tenants.org_ids["a"] / "_runs" / "r0" / "data" / "part-0.txt"
    acme_file.parent.mkdir(parents=True)
    acme_file.write_text(f"{ACME_DATA}\n")
    hidden = f"/host/{tenants.org_ids['a']}/_runs/r0/data/part-0.txt"
    launcher = container(f"--volume={storage}:/host:rw", [images["hostile"], "python3", "job.py"])
    store_as_before_the_fix(admin, tenants.org_ids["b"], hostile_spec(launcher=launcher))
    run = finished_run(tenants, admin, storage, {"attack": "read_host", "path": hidden})
    error = run["error"] or {}
    assert (run["status"], error.get("type")) == ("dead", "DefinitionError"), error
    assert IMAGE_RULE in error["message"]
    assert acme_file.read_text() == f"{ACME_DATA}\n"
    logs = admin.execute(
        "SELECT coalesce(string_agg(event::text, ' '), '') FROM runs.logs WHERE run_id = %s",
        (run["id"],),
    ).fetchone()
    assert logs is not None and ACME_DATA not in logs[0] and "ESCAPED" not in logs[0]


def launch(request: dict[str, Any], spec: dict[str, Any], workdir: Path) -> tuple[Any, list[str]]:
    lines: list[str] = []
    outcome = ContainerLauncher(workdir / "storage").launch(
        request, spec, workdir, time.monotonic() + 60, lines.append, threading.Event()
    )
    return outcome, lines


def request_for(tmp_path: Path, inputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    prefix = tmp_path / "storage" / "org" / "_runs" / "r1"
    return {
        "run_id": "00000000-0000-4000-8000-000000000001",
        "attempt": 1,
        "output_prefix": prefix.as_uri() + "/",
        "inputs": inputs or [],
        "credentials": {},
    }


def test_the_container_launcher_refuses_a_flag_image_itself(tmp_path: Path) -> None:
    """Where it is used: the launcher checks the image again, before podman is started."""
    spec = {"launcher": container("--volume=/:/host:rw", ["localhost/chainlake-base:1", "id"])}
    outcome, lines = launch(request_for(tmp_path), spec, tmp_path)
    assert outcome.exit_code is None and outcome.kind == "SandboxError", outcome
    assert IMAGE_RULE in outcome.reason
    assert lines == []


def test_an_input_folder_podman_would_read_as_options_is_refused(tmp_path: Path) -> None:
    """A mount is `--volume=SOURCE:TARGET:OPTIONS`: a folder holding ':' or ',' would add
    mounts or options, so the launcher refuses it (naming it) rather than pass it on."""
    folder = tmp_path / "storage" / "org" / "_runs" / "r0" / "x:" / "host:rw"
    inputs = [{"dataset": "d", "uris": [(folder / "part-0.txt").as_uri()]}]
    spec = {"launcher": container("localhost/chainlake-base:1", ["true"])}
    outcome, _ = launch(request_for(tmp_path, inputs), spec, tmp_path)
    assert outcome.kind == "SandboxError", outcome
    assert "may not hold ':' or ','" in outcome.reason


def test_podman_gets_the_image_after_double_dash() -> None:
    """Everything from the image on is the container's: podman reads no option past `--`."""
    from runner.launchers import podman_tail

    launcher = container("localhost/chainlake-base:1", ["--privileged", "-v", "/:/h"])
    assert podman_tail(launcher) == [
        "--",
        "localhost/chainlake-base:1",
        "--privileged",
        "-v",
        "/:/h",
    ]


def test_an_image_naming_a_registry_makes_no_connection(tmp_path: Path) -> None:
    """A review finding: `image: 127.0.0.1:PORT/x:1` is a plain reference, and podman pulled it
    from that address on the runner's network, outside the guarded client, and copied its
    errors into the run (a port scan from the runner). Images are never pulled."""
    (tmp_path / "storage").mkdir()
    with tcp_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as registry:
        image = f"127.0.0.1:{registry.port}/probe:1"
        outcome, lines = launch(request_for(tmp_path), {"launcher": container(image)}, tmp_path)
        time.sleep(0.5)
    assert registry.connections == 0, "podman reached the registry"
    assert outcome.kind == "ImageMissing", outcome
    assert f"image {image} is not on this runner" in outcome.reason
    assert "HTTP" not in outcome.reason and lines == []


def test_the_hostile_image_still_runs(tmp_path: Path, images: dict[str, str]) -> None:
    """A plain reference runs as before (the `--` changes nothing for a good image)."""
    prefix = tmp_path / "storage" / "org" / "_runs" / "r1"
    prefix.parent.parent.parent.mkdir()
    request = {
        **request_for(tmp_path),
        "contract": "chainlake.job/v1",
        "params": {"attack": "memory", "mb": 1},
    }
    spec = {
        "launcher": container(images["hostile"]),
        "resources": {"memory_mb": 64},
    }
    outcome, lines = launch(request, spec, tmp_path)
    assert outcome.exit_code == 0, outcome
    assert any("ESCAPED: allocated" in line for line in lines)
    assert prefix.is_dir()
