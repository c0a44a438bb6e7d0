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

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlparse

from chainlake.errors import ChainlakeError, InvalidInput


class ObjectStore(Protocol):
    url: str

    def put(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def put_fileobj(self, key: str, handle: BinaryIO) -> None: ...
    def get(self, key: str) -> bytes: ...
    def size(self, key: str) -> int: ...
    def read_range(self, key: str, start: int, length: int) -> bytes: ...
    def stream(self, key: str, chunk: int = 1 << 20) -> Iterator[bytes]: ...
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

    def put_fileobj(self, key: str, handle: BinaryIO) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        with tmp.open("wb") as written:
            shutil.copyfileobj(handle, written, 1 << 20)
        os.replace(tmp, target)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{self.url}/{key}") from exc

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.url}/{key}")
        return path.stat().st_size

    def read_range(self, key: str, start: int, length: int) -> bytes:
        try:
            with self._path(key).open("rb") as handle:
                handle.seek(start)
                return handle.read(length)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{self.url}/{key}") from exc

    def stream(self, key: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{self.url}/{key}") from exc
        with handle:
            yield from iter(lambda: handle.read(chunk), b"")

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

    def put_fileobj(self, key: str, handle: BinaryIO) -> None:
        self.client.upload_fileobj(handle, self.settings.bucket, self._key(key))

    def get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.settings.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"{self.url}/{key}") from exc
        return bytes(answer["Body"].read())

    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.settings.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(f"{self.url}/{key}") from exc
            raise
        return int(head["ContentLength"])

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes [start, start + length) of an object, fewer at its end (one ranged GET)."""
        from botocore.exceptions import ClientError

        if length <= 0:
            return b""
        ranged = f"bytes={start}-{start + length - 1}"
        try:
            answer = self.client.get_object(
                Bucket=self.settings.bucket, Key=self._key(key), Range=ranged
            )
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"{self.url}/{key}") from exc
        except ClientError as exc:  # a range past the end (or an empty object)
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise
        return bytes(answer["Body"].read())

    def stream(self, key: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        try:
            answer = self.client.get_object(Bucket=self.settings.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"{self.url}/{key}") from exc
        body = answer["Body"]
        try:
            yield from body.iter_chunks(chunk)
        finally:
            body.close()

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


def key_of(store: ObjectStore | None, uri: str) -> str | None:
    """The key of `uri` in `store`; None when it is in no store at hand (or not under it)."""
    if store is None:
        return None
    root = store.url.rstrip("/") + "/"
    return uri[len(root) :] if uri.startswith(root) and len(uri) > len(root) else None


class RangedReader(io.RawIOBase):
    """An object read as a seekable file, by ranged reads (for Parquet footers and row
    groups, or the first lines of a text file): never more than what is asked is fetched."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        super().__init__()
        self.store, self.key = store, key
        self.length = store.size(key)
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.position >= self.length:
            return 0
        data = self.store.read_range(self.key, self.position, len(view))
        view[: len(data)] = data
        self.position += len(data)
        return len(data)


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


def store_problem(url: str) -> str | None:
    """Why the store at `url` cannot be used, in one line naming it and what to check, or None.
    A bucket is asked once, briefly (no retries): a process checks this at start."""
    try:
        store = open_store(url)
    except InvalidInput as exc:
        return exc.message
    if not isinstance(store, S3Store):
        return None
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    settings = store.settings
    probe = store.session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=3,
            read_timeout=5,
        ),
    )
    try:
        probe.head_bucket(Bucket=settings.bucket)
    except (BotoCoreError, ClientError) as exc:
        where = settings.endpoint_url or "AWS"
        return (
            f"storage {url}: bucket {settings.bucket} at {where} cannot be used: {exc}; check "
            "CHAINLAKE_STORAGE_URL, AWS_ENDPOINT_URL and the key (AWS_ACCESS_KEY_ID)"
        )
    return None
