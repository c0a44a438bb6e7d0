"""Where runs write: one convention, written once here and in docs/assets.md.

A run's output prefix is `{root}/` + the job's `output_path_template` (default
`{org_id}/_runs/{run_id}`); inside it a job writes one folder per dataset (and partition).
A template may use `{org_id}`, `{job}`, `{job_version}` and `{run_id}`; it must start with
`{org_id}/` (an org writes only in its own tree) and contain `{run_id}` (every run writes once,
so no run can collide with another's files, of any dataset).
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

from chainlake.errors import InvalidInput

DEFAULT_TEMPLATE = "{org_id}/_runs/{run_id}"
FIELDS = {"org_id", "job", "job_version", "run_id"}
SAFE = re.compile(r"^[A-Za-z0-9_.{}/-]+$")


def check_template(template: str) -> None:
    """Refuse a template that could write outside its org or collide with other runs' paths."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    problems = []
    if not SAFE.match(template) or ".." in template.split("/"):
        problems.append("use only letters, digits, '_', '.', '-', '/' and {fields}; no '..'")
    if fields - FIELDS:
        problems.append(f"unknown field(s) {sorted(fields - FIELDS)}; use {sorted(FIELDS)}")
    if not template.startswith("{org_id}/"):
        problems.append("it must start with {org_id}/ (an org writes only in its own tree)")
    if "run_id" not in fields:
        problems.append("it must contain {run_id} (otherwise runs, and datasets, could collide)")
    if problems:
        raise InvalidInput(f"output_path_template {template!r}: " + "; ".join(problems))


def output_prefix(root: Path, run: dict[str, Any], spec: dict[str, Any]) -> str:
    template = spec.get("output_path_template", DEFAULT_TEMPLATE)
    check_template(template)
    relative = template.format(
        org_id=run["org_id"], job=run["job_name"], job_version=run["job_version"], run_id=run["id"]
    )
    return str((root / relative).as_uri()) + "/"


def linked_prefix(root: Path, prefix: Path) -> Path | None:
    """The first symbolic link on the way from the storage root to a run's prefix, if any: a
    job may plant links in its own prefix, and a later run's template could name a path through
    one (`{org_id}/_runs/<that run>/link/{run_id}`) to write wherever it points."""
    current = root
    for part in prefix.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None
