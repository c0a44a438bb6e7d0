"""The hostile job (jobs/examples/hostile): each attack on the sandbox is blocked, its run fails,
and the run's error names what was blocked, in the container launcher and in the process
launcher's sandbox alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.runtime import EXAMPLES, apply, request_run, running_runner, wait_for
from tests.tenants import Tenants

HOSTILE = EXAMPLES / "hostile" / "job.yaml"
MARKER = "HOST-SECRET-7c1d"  # the host file's content: it must never reach a log or an output
ATTACKS = (
    "network",
    "read_host",
    "write_outside",
    "undeclared_output",
    "outside_output",
    "memory",
)


def attack_all(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    launcher: dict[str, Any] | None,
    port: int,
) -> tuple[dict[str, dict[str, Any]], Path, Path]:
    """One run per attack (launcher None: job.yaml's own, the process launcher); returns each
    finished run by attack, the host file and the target written outside the prefix (a sibling
    run's prefix in the same org's storage)."""
    writer = tenants.user("b", "writer")
    apply(tenants, writer, HOSTILE, **({"launcher": launcher} if launcher else {}))
    storage = tmp_path / "storage"
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(f"{MARKER}\n")
    target = storage / tenants.org_ids["b"] / "_runs" / "another-run" / "planted.txt"
    params = {"port": port, "path": str(secret), "target": str(target), "mb": 512}
    with running_runner(tenants, storage):
        ids = {
            a: request_run(tenants, writer, "hostile", {**params, "attack": a})["id"]
            for a in ATTACKS
        }

        def finished() -> dict[str, dict[str, Any]] | None:
            with admin.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT * FROM runs.runs WHERE id = ANY(%s) AND status IN (%s, %s)",
                    (list(ids.values()), "succeeded", "dead"),
                ).fetchall()
            by_id = {str(r["id"]): r for r in rows}
            if len(by_id) < len(ids):
                return None
            return {a: by_id[str(i)] for a, i in ids.items()}

        done = wait_for(finished, timeout=120, every=0.2)
    return done, secret, target


def outcome(run: dict[str, Any]) -> tuple[str, str, str]:
    error = run["error"] or {}
    return run["status"], error.get("type", ""), error.get("message", "")


def assert_blocked(done: dict[str, dict[str, Any]], expected: dict[str, tuple[str, str]]) -> None:
    """Each attack's run is dead with the expected error type, its message naming the block."""
    wrong = {
        attack: outcome(done[attack])
        for attack, (kind, words) in expected.items()
        if outcome(done[attack])[:2] != ("dead", kind) or words not in outcome(done[attack])[2]
    }
    assert not wrong, f"not blocked as expected: {wrong}"


def assert_nothing_leaked(
    admin: psycopg.Connection[Any], done: dict[str, dict[str, Any]], storage: Path
) -> None:
    """The host file's content is in no log, run row or file, and no version was recorded."""
    ids = [run["id"] for run in done.values()]
    logs = admin.execute(
        "SELECT coalesce(string_agg(event::text, ' '), '') FROM runs.logs WHERE run_id = ANY(%s)",
        (ids,),
    ).fetchone()
    rows = admin.execute(
        "SELECT string_agg(r::text, ' ') FROM runs.runs r WHERE id = ANY(%s)", (ids,)
    ).fetchone()
    assert logs and MARKER not in logs[0] and "ESCAPED" not in logs[0], logs
    assert rows and MARKER not in rows[0], rows
    files = [p for p in storage.rglob("*") if p.is_file() and not p.is_symlink()]
    assert files and not [p for p in files if MARKER.encode() in p.read_bytes()]
    versions = admin.execute(
        "SELECT count(*) FROM catalog.asset_versions WHERE run_id = ANY(%s)", (ids,)
    ).fetchone()
    assert versions == (0,)


def blocked_in_every_way(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    port: int,
    launcher: dict[str, Any] | None,
    out_of_memory: tuple[str, str],
) -> None:
    """Every attack is blocked and named in its run's error; nothing got out or in."""
    done, secret, target = attack_all(tenants, admin, tmp_path, launcher, port)
    assert_blocked(
        done,
        {
            "network": (
                "PermanentError",
                f"network egress blocked: connecting to 127.0.0.1:{port}",
            ),
            "read_host": (
                "PermanentError",
                f"reading host file blocked: {secret}: FileNotFoundError",
            ),
            "write_outside": (
                "PermanentError",
                f"writing outside the output prefix blocked: {target}: ",
            ),
            "undeclared_output": ("OutputRejected", "output for undeclared dataset 'stolen'"),
            "outside_output": ("OutputRejected", "leads outside the run's prefix"),
            "memory": out_of_memory,
        },
    )
    assert not target.parent.exists()
    assert secret.read_text() == f"{MARKER}\n"
    assert_nothing_leaked(admin, done, tmp_path / "storage")


def test_the_container_launcher_blocks_every_attack(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    listening_port: int,
) -> None:
    launcher = {"kind": "container", "image": images["hostile"], "command": ["python3", "job.py"]}
    killed = ("OutOfMemory", "killed: out of memory (limit 64 MB, resources.memory_mb)")
    blocked_in_every_way(tenants, admin, tmp_path, listening_port, launcher, killed)


def test_the_process_launcher_blocks_every_attack(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, listening_port: int
) -> None:
    """The process launcher's sandbox (runner/sandbox.py): /tmp, the storage root and the
    platform's home are hidden, the job runs as nobody (or in a nested user namespace)."""
    refused = ("MemoryError", "out of memory (limit 64 MB, resources.memory_mb)")
    blocked_in_every_way(tenants, admin, tmp_path, listening_port, None, refused)


def run_hostile(
    tenants: Tenants, admin: psycopg.Connection[Any], storage: Path, **overrides: Any
) -> dict[str, Any]:
    """One run of the hostile job's harmless `memory` attack with a tiny allocation, under a
    definition changed by `overrides`; the finished run."""
    writer = tenants.user("b", "writer")
    apply(tenants, writer, HOSTILE, **overrides)
    with running_runner(tenants, storage):
        run = request_run(tenants, writer, "hostile", {"attack": "memory", "mb": 1})

        def finished() -> dict[str, Any] | None:
            with admin.cursor(row_factory=dict_row) as cur:
                row = cur.execute("SELECT * FROM runs.runs WHERE id = %s", (run["id"],)).fetchone()
            return row if row and row["status"] in ("succeeded", "dead") else None

        return wait_for(finished, timeout=60, every=0.2)


def test_a_definition_cannot_point_its_folder_at_the_host(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """launcher.workdir is copied or mounted into the job: only a folder in the runner's job
    roots (the project directory by default), never one the sandbox hides, is accepted."""
    for n, (folder, says) in enumerate(
        (
            ("/etc", "outside the runner's job roots"),
            (str(tmp_path / "storage"), "outside the runner's job roots"),
        )
    ):
        launcher = {"kind": "process", "command": ["python3", "job.py"], "workdir": folder}
        run = run_hostile(
            tenants, admin, tmp_path / "storage", launcher=launcher, version=f"folder-{n}"
        )
        assert outcome(run)[:2] == ("dead", "SandboxError"), outcome(run)
        assert says in outcome(run)[2]


def test_a_template_cannot_write_through_a_link_planted_in_an_earlier_prefix(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """A job may leave a symbolic link in its own prefix; a later run whose template names a
    path through it is refused before it starts, and nothing appears where the link points."""
    storage = tmp_path / "storage"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    earlier = storage / tenants.org_ids["b"] / "_runs" / "r0"
    earlier.mkdir(parents=True)
    (earlier / "evil").symlink_to(elsewhere)
    run = run_hostile(
        tenants,
        admin,
        storage,
        output_path_template="{org_id}/_runs/r0/evil/{run_id}",
        version="through-a-link",
    )
    assert outcome(run)[:2] == ("dead", "OutputRejected"), outcome(run)
    assert "goes through the symbolic link" in outcome(run)[2]
    assert list(elsewhere.iterdir()) == []
