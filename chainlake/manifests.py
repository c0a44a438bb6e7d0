"""Manifests: for each output of a run, its files with sizes and SHA-256, rows and schema,
written as `_manifest.json` beside the run's files and recorded with the version in Postgres.
The content hash (over the files' relative paths and digests) makes identical content
recognisable across runs: the same inputs and code give the same version."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from chainlake.storage import ObjectStore, key_of

MANIFEST_NAME = "_manifest.json"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store_digest(store: ObjectStore, key: str) -> tuple[int, str]:
    """An object's size and SHA-256, read through its store a block at a time."""
    digest, size = hashlib.sha256(), 0
    for block in store.stream(key):
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()


def _entry(uri: str, output_prefix: str, store: ObjectStore | None) -> dict[str, Any]:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(parsed.path)
        relative = str(path.relative_to(Path(urlparse(output_prefix).path)))
        size, sha256 = path.stat().st_size, file_digest(path)
        return {"uri": uri, "path": relative, "bytes": size, "sha256": sha256}
    key = key_of(store, uri)
    if store is None or key is None:
        return {"uri": uri}  # in no store the runner reaches: verify reports it unverified
    size, sha256 = store_digest(store, key)
    prefix = output_prefix.rstrip("/") + "/"
    relative = uri[len(prefix) :] if uri.startswith(prefix) else uri
    return {"uri": uri, "path": relative, "bytes": size, "sha256": sha256}


def describe(
    output: dict[str, Any], output_prefix: str, store: ObjectStore | None = None
) -> dict[str, Any]:
    """The output with `manifest`, `content_hash` and `bytes` filled in from its files: those
    on disk hashed where they are, those in the object store through `store` (streamed)."""
    files = [_entry(uri, output_prefix, store) for uri in output.get("uris", [])]
    identity = sorted((f.get("path", f["uri"]), f.get("sha256", "")) for f in files)
    content_hash = hashlib.sha256(
        json.dumps(
            {"dataset": output["dataset"], "partition": output.get("partition"), "files": identity}
        ).encode()
    ).hexdigest()
    manifest = {
        "dataset": output["dataset"],
        "partition": output.get("partition"),
        "files": files,
        "rows": output.get("rows"),
        "schema": output.get("schema"),
        "content_hash": content_hash,
    }
    total = sum(f.get("bytes", 0) for f in files)
    measured = any("bytes" in f for f in files)  # a job's own count is kept only for non-files
    return {
        **output,
        "manifest": manifest,
        "content_hash": content_hash,
        "bytes": total if measured else output.get("bytes") or total,
    }


def write_manifest(
    run: dict[str, Any],
    outputs: list[dict[str, Any]],
    output_prefix: str,
    store: ObjectStore | None = None,
) -> None:
    """`_manifest.json` in the run's prefix: an object of `store` when the prefix is in it, else
    a new file whatever the job left under that name (a symbolic or hard link to a file
    elsewhere is replaced, not written through)."""
    body = {
        "run_id": run["id"],
        **({"trace_id": run["trace_id"]} if run.get("trace_id") else {}),  # the run's trace
        "job": {"name": run["job_name"], "version": run["job_version"]},
        "outputs": [o["manifest"] for o in outputs],
    }
    text = json.dumps(body, indent=2) + "\n"
    key = key_of(store, output_prefix.rstrip("/") + "/" + MANIFEST_NAME)
    if urlparse(output_prefix).scheme != "file":
        if store is not None and key is not None:
            store.put(key, text.encode())
        return
    root = Path(urlparse(output_prefix).path)
    if not root.is_dir():
        return
    target = root / MANIFEST_NAME
    target.unlink(missing_ok=True)  # a link the job left there is removed, never written through
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(target, flags, 0o644), "w") as handle:
        handle.write(text)


def verify(manifest: dict[str, Any], store: ObjectStore | None = None) -> list[str]:
    """Every file of a version's manifest that is missing, altered or cannot be checked (no
    digest recorded, or in no store at hand), each named: nothing unchecked passes."""
    return [p for p in (_problem(e, store) for e in manifest.get("files", [])) if p]


def _problem(entry: dict[str, Any], store: ObjectStore | None) -> str | None:
    uri, recorded = entry["uri"], entry.get("sha256")
    parsed, key = urlparse(uri), key_of(store, uri)
    if parsed.scheme == "file":
        path = Path(parsed.path)
        if not path.is_file():
            return f"missing: {uri}"
        return _compare(uri, recorded, lambda: file_digest(path))
    if store is None or key is None:
        return f"unverified: {uri} (not in the object store at hand)"
    if not store.exists(key):
        return f"missing: {uri}"
    return _compare(uri, recorded, lambda: store_digest(store, key)[1])


def _compare(uri: str, recorded: str | None, digest: Callable[[], str]) -> str | None:
    if recorded is None:  # a version written before digests were recorded for it
        return f"unverified: {uri} (the manifest records no sha256 for it)"
    try:
        found = digest()
    except FileNotFoundError:
        return f"missing: {uri}"
    if found != recorded:
        return f"altered: {uri} (sha256 differs from the manifest)"
    return None
