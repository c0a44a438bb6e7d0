"""Between the runner's disk and the object store: a job never holds a store credential.

When the runner's store is an object store (`s3://`), a job still reads and writes local files,
and the runner moves them:

- **inputs**: each input object of the run's org is downloaded into the attempt's work
  directory (`inputs/<its key>`), and the job receives those files' `file://` URIs. An input
  outside the org's tree, or in no store the runner reaches, is refused, named.
- **outputs**: after the job succeeded, each file an output names must be a regular file inside
  the run's local output prefix, reached through no symbolic link and with no second name
  (hard link): a job may plant links in what it owns, and the runner (maybe root) would read
  through them. Each is hashed, uploaded under the same path relative to the storage root (the
  key `<org id>/_runs/<run id>/...`), and the run's prefix in the bucket is then listed: what is
  there must be exactly what was uploaded, and the manifest is described from the bucket itself
  (chainlake.manifests.describe hashes each object as stored), each file's size and SHA-256
  equal to what was read here. The local copy is removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from chainlake.manifests import describe
from chainlake.storage import ObjectStore, key_of

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
BLOCK = 1 << 20


class StagingError(Exception):
    """An input or an output the runner refuses to move (the run fails with this, named)."""


def in_object_store(store_url: str) -> bool:
    """Whether runs' files live in an object store (the runner stages them) or on this disk."""
    return urlparse(store_url).scheme == "s3"


# -- inputs -------------------------------------------------------------------------------------
def stage_inputs(
    store: ObjectStore, org_id: str, inputs: list[dict[str, Any]], workdir: Path
) -> list[dict[str, Any]]:
    """`inputs` with each object-store URI replaced by a local copy under `workdir/inputs/`
    (chain inputs and file:// URIs are left as they are)."""
    staged = []
    for item in inputs:
        uris = []
        for uri in item.get("uris", []):
            if urlparse(uri).scheme != "s3":
                uris.append(uri)
                continue
            key = key_of(store, uri)
            if key is None:
                raise StagingError(f"input {uri} is in no object store this runner reaches")
            if not key.startswith(f"{org_id}/"):
                raise StagingError(f"input {uri} is outside the org's storage")
            target = workdir / "inputs" / key
            _download(store, key, target)
            uris.append(target.as_uri())
        staged.append({**item, "uris": uris})
    return staged


def _download(store: ObjectStore, key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(target, flags, 0o644), "wb") as handle:
        for block in store.stream(key):
            handle.write(block)


# -- outputs ------------------------------------------------------------------------------------
def publish_outputs(
    store: ObjectStore, storage_root: Path, outputs: list[dict[str, Any]], prefix: str
) -> tuple[list[dict[str, Any]], str]:
    """Upload the outputs' files from the local `prefix` (a file:// URI under `storage_root`) to
    `store` under the same relative path, and describe them from the bucket (their manifests
    hashed from what it holds); returns the described outputs and the prefix's URI in the
    store. StagingError names the first file refused, or not stored as it was read here."""
    local = Path(unquote(urlparse(prefix).path))
    base = local.relative_to(storage_root).as_posix().strip("/") + "/"
    for leftover in store.keys(base):  # an earlier attempt's: the prefix is this run's alone
        store.delete(leftover)
    uploaded: dict[str, tuple[int, str]] = {}
    published = []
    for output in outputs:
        uris = []
        for uri in output.get("uris", []):
            relative = _inside(uri, local)
            uploaded[store.uri(base + relative)] = _upload(store, local, relative, base + relative)
            uris.append(store.uri(base + relative))
        published.append({**output, "uris": uris})
    there = {store.uri(key) for key in store.keys(base)}
    if there != set(uploaded):
        raise StagingError(
            f"{store.uri(base)} does not hold what was uploaded: missing "
            f"{sorted(set(uploaded) - there)[:3]}, unexpected {sorted(there - set(uploaded))[:3]}"
        )
    described = [describe(o, store.uri(base), store) for o in published]
    for output in described:
        for entry in output["manifest"]["files"]:
            if (entry.get("bytes"), entry.get("sha256")) != uploaded[entry["uri"]]:
                raise StagingError(f"{entry['uri']} is not what was uploaded")
    shutil.rmtree(local, ignore_errors=True)  # the data plane is the store (rmtree follows no link)
    return described, store.uri(base)


def _inside(uri: str, local: Path) -> str:
    """The path of `uri` relative to the local prefix, refused when it names anything else."""
    parsed = urlparse(uri)
    path = Path(os.path.normpath(unquote(parsed.path)))
    if parsed.scheme != "file" or not path.is_relative_to(local) or path == local:
        raise StagingError(
            f"output {uri} is not a file in the run's output prefix {local.as_uri()}/ (a job "
            "writes its outputs there with ctx.output_path and names them as file:// URIs)"
        )
    return path.relative_to(local).as_posix()


def _upload(store: ObjectStore, local: Path, relative: str, key: str) -> tuple[int, str]:
    """Open `local/relative` through no link (every step O_NOFOLLOW), a regular file with one
    name only; hash it, upload it from the same descriptor, and return its size and SHA-256."""
    parts = relative.split("/")
    opened = [os.open(local, DIRECTORY)]
    try:
        for part in parts[:-1]:
            opened.append(_open(part, opened[-1], DIRECTORY, local, relative))
        handle = _open(parts[-1], opened[-1], FILE, local, relative)
    finally:
        for descriptor in opened:
            os.close(descriptor)
    with os.fdopen(handle, "rb") as file:
        found = os.fstat(file.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise StagingError(f"output {local / relative} is not a regular file")
        if found.st_nlink > 1:
            raise StagingError(
                f"output {local / relative} has another name (a hard link, st_nlink "
                f"{found.st_nlink}): the runner uploads only files the job wrote itself"
            )
        digest = hashlib.sha256()
        for block in iter(lambda: file.read(BLOCK), b""):
            digest.update(block)
        file.seek(0)
        store.put_fileobj(key, file)
    return found.st_size, digest.hexdigest()


def _open(name: str, parent: int, flags: int, local: Path, relative: str) -> int:
    try:
        return os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        try:
            mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        why = "a symbolic link" if stat.S_ISLNK(mode) else (exc.strerror or str(exc))
        refused = f"output {local / relative} refused: {name!r} on its way is {why}"
        raise StagingError(refused) from exc
