"""A remote container engine for tests: `podman system service` speaking the Docker Engine API
in a network namespace of its own (tests/netns.py), reached over TCP through a veth /30, with
its own storage, the test images loaded over the API. One per test session and worker
(`remote_engine`, tests/integration/conftest.py): starting one and loading the images costs
tens of seconds."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docker
import requests

from tests import netns

PORT = 2375
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{tmp}"
"""
STORAGE_CONF = """[storage]
driver = "overlay"
graphroot = "{root}"
runroot = "{run}"
"""


@dataclass
class Engine:
    """The remote engine: its address, and how to stop and restart it (same storage)."""

    namespace: str
    address: str
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.folder / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.folder / "storage.conf"),
        }

    def start(self) -> None:
        host = urlparse(self.address).hostname
        argv = ["podman", "system", "service", "--time=0", f"tcp:{host}:{PORT}"]
        with (self.folder / "service.log").open("ab") as log:
            self.proc = subprocess.Popen(
                netns.run_in(self.namespace, argv), env=self.env, stdout=log, stderr=log
            )
        ends = time.monotonic() + 60
        while time.monotonic() < ends:
            try:
                if docker.DockerClient(base_url=self.address, timeout=2).ping():
                    return
            except docker.errors.DockerException:
                time.sleep(0.2)
        raise RuntimeError(f"podman system service did not answer on {self.address}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.address, timeout=60)

    def containers_of(self, run_id: str) -> list[Any]:
        label = f"chainlake.run={run_id}"
        return list(self.client().api.containers(all=True, filters={"label": label}))

    def remove_all(self) -> None:
        """Whatever containers and volumes a failed test left on the engine."""
        with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
            api = self.client().api
            for found in api.containers(all=True):
                api.remove_container(found["Id"], force=True, v=True)
            for volume in api.volumes().get("Volumes") or []:
                api.remove_volume(volume["Name"], force=True)


def _unmount_under(folder: Path) -> None:
    """What podman left mounted under `folder` (overlays, shm), deepest first."""
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(f"{folder}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def started_engine(folder: Path, images: dict[str, str]) -> Iterator[Engine]:
    """podman's Docker API in a namespace of its own, with the behave and hostile images, its
    files under `folder`; everything removed at the end."""
    for part in ("root", "run", "tmp"):
        (folder / part).mkdir()
    (folder / "containers.conf").write_text(CONTAINERS_CONF.format(tmp=folder / "tmp"))
    (folder / "storage.conf").write_text(
        STORAGE_CONF.format(root=folder / "root", run=folder / "run")
    )
    name = f"cld-{secrets.token_hex(2)}"
    try:
        _, ns_addr = netns.create(name, netns.random_subnet("10.231.0.0/16"))
        engine = Engine(name, f"tcp://{ns_addr}:{PORT}", folder)
        engine.start()
        archive = folder / "images.tar"
        save = ["podman", "save", "--format", "docker-archive", "-m", "-o", str(archive)]
        subprocess.run([*save, images["behave"], images["hostile"]], timeout=300, check=True)
        with archive.open("rb") as data:
            engine.client().api.load_image(data)  # type: ignore[no-untyped-call]
        archive.unlink()
        yield engine
    finally:
        if "engine" in locals():
            engine.remove_all()
            engine.kill()
        netns.remove(name)
        _unmount_under(folder)
        shutil.rmtree(folder, ignore_errors=True)
