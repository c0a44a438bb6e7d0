"""Local hardening (issue 14, "Deliver" item 3, the parts of the paths scope):

- the runner never chowns or chmods a path it did not create, and never follows a symbolic or
  hard link when it does: a job's writable directories are fresh ones, owned from the start;
- process supervision recognises a reused pid: a pid file whose process is now another program
  is not "running" and that program is never signalled;
- the job contract's JSON Schema `format`s are checked, every one the schemas use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chainlake.contract import problems, schema
from chainlake.local.processes import BackgroundProcess
from runner.launchers import CONTAINER_USER, ContainerLauncher, Outcome, ProcessLauncher
from runner.sandbox import NOBODY, job_roots, platform_view
from runner.worker import rejected_outputs

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the runner hands directories over as root")
RUN_ID = "00000000-0000-4000-8000-000000000001"


def host_file(tmp_path: Path) -> Path:
    """A file of the host's (root's), outside the storage root."""
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("HOST-SECRET\n")
    secret.chmod(0o600)
    return secret


def request_for(prefix: Path) -> dict[str, Any]:
    return {
        "contract": "chainlake.job/v1",
        "run_id": RUN_ID,
        "attempt": 1,
        "output_prefix": prefix.as_uri() + "/",
        "inputs": [],
        "params": {},
        "credentials": {},
    }


def run_process(storage: Path, prefix: Path, workdir: Path) -> Outcome:
    launcher = ProcessLauncher(platform_view(None, storage), job_roots(None), storage)
    spec = {"launcher": {"kind": "process", "command": ["python3", "-c", "print('{}')"]}}
    return launcher.launch(
        request_for(prefix), spec, workdir, time.monotonic() + 60, lambda _: None
    )


def ownership(*paths: Path) -> list[tuple[int, int]]:
    return [(p.lstat().st_uid, p.lstat().st_mode & 0o7777) for p in paths]


@as_root
def test_the_process_launcher_never_chowns_what_it_did_not_create(tmp_path: Path) -> None:
    """An output prefix that exists already (a retry's, or one a template found) is used as it
    is: neither it nor a hard link or symbolic link in it is chowned."""
    storage, secret = tmp_path / "storage", host_file(tmp_path)
    prefix = storage / "org" / "_runs" / "r1"
    prefix.mkdir(parents=True)
    os.link(secret, prefix / "linked.txt")
    (prefix / "folder").symlink_to(secret.parent)
    workdir = storage / "_work" / "r1" / "attempt-1"
    workdir.mkdir(parents=True)
    before = ownership(secret, secret.parent, prefix)
    outcome = run_process(storage, prefix, workdir)
    assert outcome.exit_code == 0, outcome
    assert ownership(secret, secret.parent, prefix) == before


@as_root
def test_a_hard_link_in_what_the_runner_hands_over_is_refused(tmp_path: Path) -> None:
    """The work directory is handed to the job's user file by file, through descriptors that
    follow no link; a file with a second name (st_nlink > 1) stops the run, untouched."""
    storage, secret = tmp_path / "storage", host_file(tmp_path)
    workdir = storage / "_work" / "r1" / "attempt-1"
    workdir.mkdir(parents=True)
    os.link(secret, workdir / "linked.txt")
    before = ownership(secret)
    outcome = run_process(storage, storage / "org" / "_runs" / "r1", workdir)
    assert (outcome.exit_code, outcome.kind) == (None, "SandboxError"), outcome
    assert "hard link" in outcome.reason and "linked.txt" in outcome.reason
    assert ownership(secret) == before


@as_root
def test_the_job_gets_fresh_directories_owned_from_the_start(tmp_path: Path) -> None:
    """A new prefix is created for the job and given to its user at once; the folders above it
    stay the runner's."""
    storage = tmp_path / "storage"
    prefix = storage / "org" / "_runs" / "r1"
    workdir = storage / "_work" / "r1" / "attempt-1"
    workdir.mkdir(parents=True)
    outcome = run_process(storage, prefix, workdir)
    assert outcome.exit_code == 0, outcome
    assert prefix.stat().st_uid == NOBODY
    assert [p.stat().st_uid for p in (prefix.parent, prefix.parent.parent)] == [0, 0]


def run_container(storage: Path, prefix: Path, workdir: Path) -> Outcome:
    launcher = {"kind": "container", "image": "localhost/chainlake-base:1", "command": ["true"]}
    spec: dict[str, Any] = {"launcher": launcher}
    return ContainerLauncher(storage).launch(
        request_for(prefix), spec, workdir, time.monotonic() + 60, lambda _: None
    )


@as_root
def test_the_container_launcher_never_chmods_what_it_did_not_create(
    tmp_path: Path, images: dict[str, str]
) -> None:
    """It used to chmod the output directory 0777, whatever it was; now an existing one keeps
    its mode and owner, and a new one is created for the container's user."""
    storage = tmp_path / "storage"
    existing = storage / "org" / "_runs" / "r1"
    existing.mkdir(parents=True, mode=0o700)
    existing.chmod(0o700)
    before = ownership(existing)
    outcome = run_container(storage, existing, tmp_path)
    assert outcome.exit_code == 0, outcome
    assert ownership(existing) == before
    fresh = storage / "org" / "_runs" / "r2"
    outcome = run_container(storage, fresh, tmp_path)
    assert outcome.exit_code == 0, outcome
    assert ownership(fresh) == [(CONTAINER_USER, 0o755)]
    assert existing.parent.stat().st_uid == 0


def test_an_output_that_is_a_hard_link_is_refused(tmp_path: Path) -> None:
    """A second name of a file elsewhere would be hashed and published as the org's data."""
    secret = host_file(tmp_path)
    prefix = tmp_path / "storage" / "org" / "_runs" / "r1"
    (prefix / "out").mkdir(parents=True)
    os.link(secret, prefix / "out" / "part-0.txt")
    spec = {"output_datasets": ["out"]}
    outputs = [{"dataset": "out", "uris": [(prefix / "out" / "part-0.txt").as_uri()]}]
    refused = rejected_outputs(outputs, spec, prefix.as_uri() + "/")
    assert refused is not None and refused["type"] == "OutputRejected", refused
    assert "hard link" in refused["message"]


def test_the_manifest_is_written_through_no_link(tmp_path: Path) -> None:
    """A job can plant `_manifest.json` as a link in its prefix; the runner replaces the link,
    never writing where it points."""
    from chainlake.manifests import MANIFEST_NAME, write_manifest

    secret = host_file(tmp_path)
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    (prefix / MANIFEST_NAME).symlink_to(secret)
    run = {"id": RUN_ID, "job_name": "x", "job_version": "1"}
    write_manifest(run, [], prefix.as_uri() + "/")
    assert secret.read_text() == "HOST-SECRET\n"
    assert not (prefix / MANIFEST_NAME).is_symlink()
    os.link(secret, prefix / "second")
    (prefix / MANIFEST_NAME).unlink()
    os.link(secret, prefix / MANIFEST_NAME)
    write_manifest(run, [], prefix.as_uri() + "/")
    assert secret.read_text() == "HOST-SECRET\n"


# -- pid reuse ---------------------------------------------------------------------------------
def test_a_reused_pid_is_not_running_and_never_signalled(tmp_path: Path) -> None:
    """The runner's pid file names a process that has ended; the kernel gave its pid to some
    other program (shown by writing that program's pid into the file). `status` must not
    report it and `down` must not signal it."""
    runner = BackgroundProcess("runner", tmp_path / "run")
    first = runner.start([sys.executable, "-c", "import time; time.sleep(0.5)"])
    recorded = runner.pid_file.read_text()
    assert runner.pid() == first
    ends = time.monotonic() + 30
    while runner.pid() is not None and time.monotonic() < ends:
        time.sleep(0.05)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runner.pid_file.write_text(recorded.replace(str(first), str(other.pid)))
        assert runner.pid() is None
        runner.pid_file.write_text(recorded.replace(str(first), str(other.pid)))
        assert runner.stop(grace_seconds=1) is False
        time.sleep(0.2)
        assert other.poll() is None, "another program was signalled"
    finally:
        other.kill()
        other.wait(10)


def test_a_running_process_is_still_recognised_and_stopped(tmp_path: Path) -> None:
    api = BackgroundProcess("api", tmp_path / "run")
    pid = api.start([sys.executable, "-c", "import time; time.sleep(60)"])
    assert api.pid() == pid
    assert api.start([sys.executable, "-c", "pass"]) == pid  # running: not started twice
    assert api.stop(grace_seconds=10) is True
    assert api.pid() is None


def test_an_old_pid_file_counts_only_for_a_process_of_this_stack(tmp_path: Path) -> None:
    """Pid files written before start times were recorded hold the pid alone: after an upgrade,
    `down` still stops the stack's own process, and never another program."""
    home = tmp_path / "home"
    runner = BackgroundProcess("runner", home / "run")
    ours = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(home / "data")]
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runner.run_dir.mkdir(parents=True)
        runner.pid_file.write_text(f"{other.pid}\n")
        assert runner.pid() is None and not runner.pid_file.exists()
        runner.pid_file.write_text(f"{ours.pid}\n")
        assert runner.pid() == ours.pid
        assert runner.stop(grace_seconds=10) is True
        assert ours.wait(10) is not None and other.poll() is None
    finally:
        for proc in (ours, other):
            proc.kill()
            proc.wait(10)


# -- format checks -----------------------------------------------------------------------------
def formats_used(node: object) -> set[str]:
    """Every `format` keyword in a schema (a property named "format" is a schema, not a str)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            found.add(node["format"])
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            found |= formats_used(item)
    return found


def test_every_format_the_contract_uses_is_checked() -> None:
    from chainlake.contract import FORMATS

    used = set().union(
        *(formats_used(schema(n)) for n in ("run_request", "event", "job_definition"))
    )
    assert {"uuid", "date-time", "uri"} <= used
    assert used <= set(FORMATS.checkers), f"unchecked formats: {used - set(FORMATS.checkers)}"


GOOD_REQUEST = {
    "contract": "chainlake.job/v1",
    "run_id": RUN_ID,
    "attempt": 1,
    "idempotency_key": "k",
    "job": {"name": "x", "version": "1"},
    "org": {"id": "o"},
    "trigger": {"kind": "manual"},
    "inputs": [{"dataset": "d", "uris": ["file:///data/o/_runs/r/d/part-0.json"]}],
    "params": {},
    "config": {},
    "output_prefix": "file:///data/o/_runs/r/",
    "deadline": "2026-11-27T03:30:00+00:00",
    "credentials": {},
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("run_id", "not-a-uuid"),
        ("deadline", "tomorrow"),
        ("deadline", "2026-11-27 03:30"),
        ("output_prefix", "no scheme here"),
        ("output_prefix", "file:///data/o/_runs/r/\n--volume=/:/host"),
        ("inputs", [{"dataset": "d", "uris": ["../../etc/passwd"]}]),
    ],
)
def test_a_value_that_breaks_its_format_is_refused(field: str, value: object) -> None:
    assert problems("run_request", GOOD_REQUEST) == []
    found = problems("run_request", {**GOOD_REQUEST, field: value})
    assert found and found[0].startswith(field), found
