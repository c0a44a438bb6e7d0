"""Issue 18 item 2 (jobs on a remote Docker-API engine), attacked as org b's writer: the sandbox
a container gets on the remote engine is the local launcher's (uid 65534, no capabilities,
no-new-privileges, read-only root, memory = swap, 256 pids, no network: not even the engine's
own API, which listens on TCP in the engine's namespace). The job reports what it sees from
inside; the engine's record of the container is inspected while it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from tests.integration.test_container_launcher import container
from tests.integration.test_docker_engine import remote
from tests.remote_engine import Engine
from tests.runtime import TEST_JOBS, apply, request_run, wait_for
from tests.tenants import Tenants

# what the job sees, as one log event; then it stays until the test has inspected it
PROBE = r"""
import json, os, resource, socket, sys, time
sys.stdin.read()
host, port = sys.argv[1], int(sys.argv[2])
def read(path):
    try:
        return open(path).read().strip()
    except OSError as exc:
        return f"error: {exc.strerror}"
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
try:
    socket.create_connection((host, port), timeout=3).close()
    engine = "connected"
except OSError as exc:
    engine = f"refused: {exc}"
try:
    open("/planted", "w").close()
    root = "writable"
except OSError as exc:
    root = f"read-only: {exc.strerror}"
facts = {
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "cap_eff": status["CapEff"].strip(), "cap_bnd": status["CapBnd"].strip(),
    "no_new_privs": status["NoNewPrivs"].strip(),
    "v1": os.path.isdir("/sys/fs/cgroup/memory"),
    "memory_max": read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if os.path.isdir("/sys/fs/cgroup/memory") else read("/sys/fs/cgroup/memory.max"),
    "swap": read("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    if os.path.isdir("/sys/fs/cgroup/memory") else read("/sys/fs/cgroup/memory.swap.max"),
    "pids_max": read("/sys/fs/cgroup/pids/pids.max")
    if os.path.isdir("/sys/fs/cgroup/pids") else read("/sys/fs/cgroup/pids.max"),
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
    "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
    "interfaces": sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]),
    "engine": engine, "root": root,
}
event = {"type": "log", "level": "info", "message": "facts " + json.dumps(facts)}
print(json.dumps(event), flush=True)
time.sleep(float(sys.argv[3]))
"""


def _facts(admin: psycopg.Connection[Any], run_id: str) -> dict[str, Any] | None:
    row = admin.execute(
        "SELECT event->>'message' FROM runs.logs WHERE run_id = %s "
        "AND event->>'message' LIKE 'facts %%'",
        (run_id,),
    ).fetchone()
    return json.loads(row[0][len("facts ") :]) if row else None


def test_the_remote_container_is_sandboxed_as_a_local_one(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    images: dict[str, str],
    remote_engine: Engine,
) -> None:
    engine_host = urlparse(remote_engine.address).hostname or ""
    argv = ["python3", "-c", PROBE, engine_host, str(urlparse(remote_engine.address).port), "20"]
    writer = tenants.user("b", "writer")
    apply(
        tenants,
        writer,
        TEST_JOBS / "behave.yaml",
        name="probe",
        launcher=container(images["behave"], *argv),
        resources={"memory_mb": 64},
        retries={"max_attempts": 1},
        timeout_seconds=120,
    )
    with remote(tenants, tmp_path, remote_engine):
        run = request_run(tenants, writer, "probe")
        facts = wait_for(lambda: _facts(admin, run["id"]), timeout=120)
        (found,) = remote_engine.containers_of(run["id"])
        seen = remote_engine.client().api.inspect_container(found["Id"])
        admin.execute("SELECT runs.cancel(%s)", (str(run["id"]),))
        finished_or_cancelled = wait_for(
            lambda: not remote_engine.containers_of(run["id"]), timeout=60
        )
    assert finished_or_cancelled, "the cancelled container is gone from the engine"
    assert (facts["uid"], facts["gid"], facts["groups"]) == (65534, 65534, [65534])
    assert facts["cap_eff"] == facts["cap_bnd"] == "0000000000000000", "no capabilities"
    assert facts["no_new_privs"] == "1"
    assert facts["root"].startswith("read-only"), facts["root"]
    assert facts["interfaces"] == ["lo"], "network none: only a loopback"
    assert facts["engine"].startswith("refused"), "the engine's API is out of reach"
    assert facts["memory_max"] == str(64 << 20), "the memory limit, in the job's cgroup"
    assert facts["swap"] == (str(64 << 20) if facts["v1"] else "0"), "no swap beyond it"
    assert facts["pids_max"] == "256"
    assert tuple(facts["nofile"]) == tuple(facts["nproc"]) == (1024, 1024)
    host = seen["HostConfig"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["Privileged"] is False and host["PidMode"] != "host"
    assert host["IpcMode"] != "host" and not host["Devices"] and not host["CapAdd"]
    assert host["Memory"] == host["MemorySwap"] == 64 << 20 and host["PidsLimit"] == 256
    assert seen["Config"]["User"] == "65534:65534"
