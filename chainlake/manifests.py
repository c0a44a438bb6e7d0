"""Manifests: for each output of a run, its files with sizes and SHA-256, rows and schema,
written as `_manifest.json` beside the run's files and recorded with the version in Postgres.
The content hash (over the files' relative paths and digests) makes identical content
recognisable across runs: the same inputs and code give the same version."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

MANIFEST_NAME = "_manifest.json"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(output: dict[str, Any], output_prefix: str) -> dict[str, Any]:
    """The output with `manifest`, `content_hash` and `bytes` filled in from its files."""
    root = Path(urlparse(output_prefix).path)
    files = []
    for uri in output.get("uris", []):
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            files.append({"uri": uri})
            continue
        path = Path(parsed.path)
        files.append(
            {
                "uri": uri,
                "path": str(path.relative_to(root)),
                "bytes": path.stat().st_size,
                "sha256": file_digest(path),
            }
        )
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


def write_manifest(run: dict[str, Any], outputs: list[dict[str, Any]], output_prefix: str) -> None:
    """`_manifest.json` in the run's prefix, a new file whatever the job left under that name
    (a symbolic or hard link to a file elsewhere is replaced, not written through)."""
    root = Path(urlparse(output_prefix).path)
    if not root.is_dir():
        return
    body = {
        "run_id": run["id"],
        "job": {"name": run["job_name"], "version": run["job_version"]},
        "outputs": [o["manifest"] for o in outputs],
    }
    target = root / MANIFEST_NAME
    target.unlink(missing_ok=True)  # a link the job left there is removed, never written through
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(target, flags, 0o644), "w") as handle:
        handle.write(json.dumps(body, indent=2) + "\n")


def verify(manifest: dict[str, Any]) -> list[str]:
    """Every file of a version's manifest that is missing or altered, each named."""
    problems = []
    for entry in manifest.get("files", []):
        parsed = urlparse(entry["uri"])
        if parsed.scheme != "file" or "sha256" not in entry:
            continue
        path = Path(parsed.path)
        if not path.exists():
            problems.append(f"missing: {entry['uri']}")
        elif file_digest(path) != entry["sha256"]:
            problems.append(f"altered: {entry['uri']} (sha256 differs from the manifest)")
    return problems
