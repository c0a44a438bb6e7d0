"""Container jobs on a remote engine speaking the Docker Engine API (runner/docker_engine.py):
`podman system service` in a network namespace of its own, reached over TCP through a veth /30,
with its own storage; the test images are loaded into it over the API. Nothing of the runner's
disk is mounted there: inputs and outputs cross over the API."""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

from chainlake.local.localpg import free_port
from chainlake.storage import S3Store, key_of
from runner.docker_engine import OutputRefused, unpack
from tests.integration.test_container_launcher import container
from tests.integration.test_s3_outputs import store  # noqa: F401 - the fixture
from tests.remote_engine import PORT, Engine
from tests.runtime import EXAMPLES, REPO, TEST_JOBS, apply, request_run, running_runner, wait_for
from tests.tenants import Tenants

# a job of the contract without the SDK: one log line at once, then quiet for `seconds`
TALK_THEN_SLEEP = (
    "import json, sys, time; sys.stdin.read(); "
    "print(json.dumps({'type': 'log', 'level': 'info', 'message': 'started'}), flush=True); "
    "time.sleep(float(sys.argv[1]))"
)


def remote(tenants: Tenants, tmp: Path, engine: Engine, **options: Any) -> Any:
    return running_runner(tenants, tmp, container_engine=engine.address, **options)


def finished(admin: psycopg.Connection[Any], run_id: str, timeout: float = 120) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        with admin.cursor(row_factory=psycopg.rows.dict_row) as cur:
            return cur.execute(
                "SELECT * FROM runs.runs WHERE id = %s AND status IN ('succeeded', 'dead')",
                (run_id,),
            ).fetchone()

    return wait_for(probe, timeout=timeout)


def versions(admin: psycopg.Connection[Any], org_id: str, dataset: str) -> list[Any]:
    return admin.execute(
        "SELECT v.version, v.uris FROM catalog.asset_versions v JOIN catalog.datasets d "
        "ON d.org_id = v.org_id AND d.id = v.dataset_id WHERE d.org_id = %s AND d.name = %s",
        (org_id, dataset),
    ).fetchall()


def derive_pair(tenants: Tenants, images: dict[str, str]) -> None:
    """derive (a source) -> derive_more (reads derive's output), both on the engine."""
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        TEST_JOBS / "derive.yaml",
        launcher=container(images["behave"], "python3", "derive.py"),
    )
    apply(
        tenants,
        writer,
        TEST_JOBS / "derive.yaml",
        name="derive_more",
        kind="reactive",
        activation=None,
        input_datasets=["derived"],
        output_datasets=["more"],
        config={"output": "more"},
        launcher=container(images["behave"], "python3", "derive.py"),
    )


def _dag_on(
    tenants: Tenants, admin: psycopg.Connection[Any], engine: Engine, disk: Path, **options: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    writer = tenants.user("b", "writer")
    with remote(tenants, disk, engine, **options):
        first = request_run(tenants, writer, "derive", {"value": 7})
        source = finished(admin, first["id"])
        assert source["status"] == "succeeded", source["error"]
        more = wait_for(
            lambda: admin.execute(
                "SELECT id FROM runs.runs WHERE job_name = 'derive_more'"
            ).fetchone(),
            timeout=60,
        )
        derived = finished(admin, str(more[0]))
    for run in (source, derived):
        assert run["status"] == "succeeded", run["error"]
        assert engine.containers_of(str(run["id"])) == [], "removed from the engine"
    return source, derived


def test_a_dag_runs_on_the_remote_engine(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    derive_pair(tenants, images)
    source, derived = _dag_on(tenants, admin, remote_engine, tmp_path)
    (uri,) = derived["outputs"][0]["uris"]
    assert uri.startswith(f"file://{tmp_path}/"), "the output came back to the runner's disk"
    assert Path(urlparse(uri).path).read_text() == "derive_more() | derived:derive(7)\n"
    assert versions(admin, tenants.org_ids["b"], "more") != [], "recorded as a version"
    assert derived["inputs"][0]["uris"] == source["outputs"][0]["uris"]


def test_a_dag_runs_on_the_remote_engine_with_outputs_in_s3(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
    store: S3Store,  # noqa: F811 - the fixture
) -> None:
    derive_pair(tenants, images)
    _, derived = _dag_on(tenants, admin, remote_engine, tmp_path / "disk", storage_url=store.url)
    (uri,) = derived["outputs"][0]["uris"]
    assert uri.startswith(store.url), uri
    assert store.get(key_of(store, uri) or "") == b"derive_more() | derived:derive(7)\n"


def _talker(tenants: Tenants, images: dict[str, str], **overrides: Any) -> None:
    apply(
        tenants,
        tenants.user("b", "writer"),
        TEST_JOBS / "behave.yaml",
        name="talker",
        launcher=container(images["behave"], "python3", "-c", TALK_THEN_SLEEP, "30"),
        **overrides,
    )


def _log_seen(admin: psycopg.Connection[Any], run_id: str) -> Any:
    return admin.execute(
        "SELECT 1 FROM runs.logs WHERE run_id = %s AND event->>'message' = 'started'", (run_id,)
    ).fetchone()


def test_events_stream_while_it_runs_and_a_cancel_kills_it(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    _talker(tenants, images, timeout_seconds=120)
    with remote(tenants, tmp_path, remote_engine, lease_seconds=6):  # heartbeats every 2 s
        run = request_run(tenants, tenants.user("b", "writer"), "talker")
        wait_for(lambda: _log_seen(admin, run["id"]), timeout=90)
        assert remote_engine.containers_of(run["id"]), "the log arrived while it still runs"
        admin.execute("SELECT runs.cancel(%s)", (str(run["id"]),))
        wait_for(lambda: not remote_engine.containers_of(run["id"]), timeout=60)
        status = admin.execute("SELECT status FROM runs.runs WHERE id = %s", (run["id"],))
        assert status.fetchone() == ("cancelled",)


def test_the_deadline_kills_it(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    _talker(tenants, images, timeout_seconds=4, retries={"max_attempts": 1})
    with remote(tenants, tmp_path, remote_engine):
        run = request_run(tenants, tenants.user("b", "writer"), "talker")
        dead = finished(admin, run["id"])
    assert dead["status"] == "dead"
    assert dead["error"]["type"] == "Timeout", dead["error"]
    assert remote_engine.containers_of(run["id"]) == []


def test_the_hostile_job_is_held_on_the_remote_engine(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    """Each attack fails its run, named: write to the root filesystem, be root (read a file
    only root reads), reach the network, read another org's input on the runner's disk,
    report a link to a host file, pass the memory limit."""
    other = tmp_path / tenants.org_ids["a"] / "_runs" / "r" / "secret.txt"
    other.parent.mkdir(parents=True)
    other.write_text("org a's\n")
    attacks: dict[str, tuple[dict[str, Any], str]] = {
        "root_fs": ({"attack": "write_outside", "target": "/etc/planted"}, "writing outside"),
        "be_root": ({"attack": "read_host", "path": "/etc/shadow"}, "Permission denied"),
        "network": ({"attack": "network", "port": PORT}, "network egress blocked"),
        "other_org": ({"attack": "read_host", "path": str(other)}, "No such file"),
        "link_out": ({"attack": "outside_output", "path": "/etc/hostname"}, "symbolic link"),
        "memory": ({"attack": "memory", "mb": 256}, "out of memory (limit 64 MB"),
    }
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        EXAMPLES / "hostile" / "job.yaml",
        launcher=container(images["hostile"], "python3", "job.py"),
    )
    with remote(tenants, tmp_path, remote_engine, concurrency=3):
        asked = {
            k: request_run(tenants, writer, "hostile", a)["id"] for k, (a, _) in attacks.items()
        }
        dead = {k: finished(admin, run_id) for k, run_id in asked.items()}
    for name, (_, named) in attacks.items():
        assert dead[name]["status"] == "dead", f"ESCAPED: {name}"
        assert named in dead[name]["error"]["message"], (name, dead[name]["error"])
    assert dead["memory"]["error"]["type"] == "OutOfMemory"
    assert dead["link_out"]["error"]["type"] == "OutputRejected"


def test_what_the_remote_engine_cannot_run_is_refused_named(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    """A job declaring a network, an image the engine lacks (never pulled), an output bigger
    than resources.output_mb: each fails at once, named, and nothing stays on the engine."""
    writer = tenants.user("b", "writer")
    big = "open('/chainlake/output/big', 'wb').write(b'x' * (2 << 20))"
    jobs: dict[str, tuple[dict[str, Any], str]] = {
        "networked": ({"network": ["127.0.0.1:9"]}, "declares a network"),
        "imageless": ({"image": "localhost/chainlake-job-nowhere:1"}, "is not on this runner"),
        "oversized": ({"command": ["python3", "-c", big], "output_mb": 1}, "more than 1 MB"),
    }
    for name, (change, _) in jobs.items():
        launcher = container(change.get("image", images["behave"]), "python3", "behave.py")
        launcher["command"] = change.get("command", launcher["command"])
        apply(
            tenants,
            writer,
            TEST_JOBS / "behave.yaml",
            name=name,
            launcher=launcher,
            network=change.get("network"),
            resources={"output_mb": change["output_mb"]} if "output_mb" in change else None,
            retries={"max_attempts": 1},
        )
    with remote(tenants, tmp_path, remote_engine, concurrency=3):
        asked = {name: request_run(tenants, writer, name)["id"] for name in jobs}
        dead = {name: finished(admin, run_id) for name, run_id in asked.items()}
    for name, (_, named) in jobs.items():
        assert dead[name]["status"] == "dead"
        assert named in dead[name]["error"]["message"], (name, dead[name]["error"])
        assert remote_engine.containers_of(str(asked[name])) == []
    assert dead["imageless"]["error"]["type"] == "ImageMissing"


def test_the_engine_going_away_mid_job_retries_the_run(
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
        retries={"max_attempts": 4, "backoff_seconds": 5},
        launcher=container(images["behave"], "python3", "behave.py"),
    )
    with remote(tenants, tmp_path, remote_engine):
        run = request_run(tenants, writer, "behave", {"do": "sleep", "seconds": 6})
        wait_for(lambda: remote_engine.containers_of(run["id"]), timeout=90, every=0.2)
        remote_engine.kill()  # the job was running: there is work to lose
        try:
            wait_for(
                lambda: admin.execute(
                    "SELECT 1 FROM runs.attempts WHERE run_id = %s AND error->>'type' = "
                    "'EngineUnavailable'",
                    (run["id"],),
                ).fetchone(),
                timeout=60,
            )
        finally:
            remote_engine.start()
        done = finished(admin, run["id"], timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert int(done["attempt"]) >= 2
    assert len(versions(admin, tenants.org_ids["b"], "behaved")) == 1, "recorded once"
    assert remote_engine.containers_of(run["id"]) == []


def test_a_wrong_engine_address_stops_the_runner_with_one_line(
    tenants: Tenants, tmp_path: Path, listening_port: int
) -> None:
    """Nothing listens, not an address, not a Docker API: the runner (with a database it
    reaches) exits at start with one line naming the address."""
    database = tenants.cluster.url(tenants.database, "chainlake_runner")
    for wrong in (
        f"tcp://127.0.0.1:{free_port()}",
        f"http://127.0.0.1:{free_port()}",
        f"tcp://127.0.0.1:{listening_port}",  # accepts, never answers
    ):
        argv = [sys.executable, "-m", "runner", "--database-url", database]
        argv += ["--storage-root", str(tmp_path), "--container-engine", wrong]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert result.returncode != 0, wrong
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and wrong in lines[0], result.stderr
        assert "container engine" in lines[0]


def _archive(folder: Path, *members: tuple[str, bytes, str]) -> Path:
    """A tar like get_archive's: (name, bytes, kind) with kind file, dir, symlink, hardlink or
    fifo."""
    kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}
    kinds |= {"hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}
    path = folder / f"a-{secrets.token_hex(3)}.tar"
    with tarfile.open(path, "w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type, info.size = kinds[kind], len(data) if kind == "file" else 0
            info.linkname = "/etc/hostname" if kind in ("symlink", "hardlink") else ""
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return path


def test_the_output_archive_holds_only_directories_and_files(tmp_path: Path) -> None:
    """What comes back from the engine is unpacked into the runner's prefix, or refused, named:
    a link, a special file, a climbing name, too many bytes, a file with a second name there."""
    root, prefix = tmp_path / "store", tmp_path / "store" / "org" / "_runs" / "r"
    root.mkdir()
    ok = _archive(tmp_path, ("output", b"", "dir"), ("output/d/x.txt", b"x" * 10, "file"))
    unpack(ok, root, prefix, limit=100)
    assert (prefix / "d" / "x.txt").read_bytes() == b"x" * 10
    unpack(ok, root, prefix, limit=100)  # a retry's files are replaced, not refused
    refused = {
        "is a symbolic link": [("output/l", b"", "symlink")],
        "is a hard link": [("output/h", b"", "hardlink")],
        "is a special file": [("output/f", b"", "fifo")],
        "outside output/": [("output/../../escape.txt", b"x", "file")],
        "more than 0 MB": [("output/big", b"x" * 200, "file")],
    }
    for named, members in refused.items():
        with pytest.raises(OutputRefused, match=re.escape(named)):
            unpack(_archive(tmp_path, *members), root, prefix, limit=100)
    assert not (tmp_path / "store" / "org" / "escape.txt").exists()
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("someone else's\n")
    os.link(outside, prefix / "second.txt")
    with pytest.raises(OutputRefused, match="not a file of its own"):
        unpack(_archive(tmp_path, ("output/second.txt", b"y", "file")), root, prefix, 100)
    assert outside.read_text() == "someone else's\n"


def test_an_attempt_on_the_remote_engine_records_the_engine_s_stats(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    """Cost per org: the engine's stats, sampled while the container runs (issue 22 item 2)."""
    writer = tenants.user("b", "writer")
    launcher = container(images["behave"], "python3", "behave.py")
    apply(tenants, writer, TEST_JOBS / "behave.yaml", launcher=launcher)
    with remote(tenants, tmp_path, remote_engine):
        run = request_run(tenants, writer, "behave", {"do": "burn", "seconds": 3, "mb": 100})
        done = finished(admin, run["id"])
    assert done["status"] == "succeeded", done["error"]
    cpu, peak, source = admin.execute(
        "SELECT cpu_seconds, peak_memory_bytes, usage_source FROM runs.attempts WHERE run_id = %s",
        (run["id"],),
    ).fetchone() or (None, None, None)
    assert source == "docker-stats"
    assert cpu is not None and cpu >= 0.5, f"3 s of CPU spun, sampled {cpu}"
    assert peak is not None and peak >= 80 << 20, f"100 MB held, sampled {peak}"
