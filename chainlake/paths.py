"""Where runs write: one convention, written once here and in docs/assets.md.

A run's output prefix is `{root}/` + the job's `output_path_template` (default
`{org_id}/_runs/{run_id}`); inside it a job writes one folder per dataset (and partition).
A template may use `{org_id}`, `{job}`, `{job_version}` and `{run_id}`; it must start with
`{org_id}/` (an org writes only in its own tree) and contain `{run_id}` (every run writes once,
so no run can collide with another's files, of any dataset).

The values put into a template come from tenants (a job's name and version), so each must be a
single path component (the rules of chainlake/contract, checked where stored, checked here again
where used), and the resolved prefix must lie in the org's own tree (SECURITY.md item 19).
sql/jobs/52_tenant_values.sql holds the same template rules for every client.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from chainlake.contract import value_problem
from chainlake.errors import InvalidInput

DEFAULT_TEMPLATE = "{org_id}/_runs/{run_id}"
FIELDS = {"org_id", "job", "job_version", "run_id"}
SAFE = re.compile(r"\A[A-Za-z0-9_.{}/-]+\Z")
FIELD = re.compile(r"\{([^{}]*)\}")


def check_template(template: str) -> None:
    """Refuse a template that could write outside its org or collide with other runs' paths."""
    fields = set(FIELD.findall(template))
    problems = []
    if not SAFE.match(template) or ".." in template.split("/"):
        problems.append("use only letters, digits, '_', '.', '-', '/' and {fields}; no '..'")
    if fields - FIELDS:
        problems.append(f"unknown field(s) {sorted(fields - FIELDS)}; use {sorted(FIELDS)}")
    if re.search(r"[{}]", FIELD.sub("", template)):
        problems.append("a brace may only surround a field (no '{{', '}}' or unknown field)")
    if not template.startswith("{org_id}/"):
        problems.append("it must start with {org_id}/ (an org writes only in its own tree)")
    if "run_id" not in fields:
        problems.append("it must contain {run_id} (otherwise runs, and datasets, could collide)")
    if problems:
        raise InvalidInput(f"output_path_template {template!r}: " + "; ".join(problems))


def template_values(run: dict[str, Any]) -> dict[str, str]:
    """What a run's template may use, each checked to be one path component (the contract's
    rule for a version: letters, digits, '.', '_' and '-', never '.' or '..')."""
    values = {
        "org_id": run["org_id"],
        "job": run["job_name"],
        "job_version": run["job_version"],
        "run_id": run["id"],
    }
    for field, value in values.items():
        refused = value_problem("version", value, named=field)
        if refused:
            raise InvalidInput(f"{refused}: it is part of the run's output path")
    return values


def output_prefix(root: Path, run: dict[str, Any], spec: dict[str, Any]) -> str:
    """The run's output prefix (a file:// URI ending in '/'); InvalidInput, naming the field and
    its rule, when a value or the template would leave the org's tree. A symbolic link on the
    way is linked_prefix's to find; the launchers create the prefix following none."""
    template = spec.get("output_path_template", DEFAULT_TEMPLATE)
    check_template(template)
    prefix = Path(os.path.normpath(root / template.format(**template_values(run))))
    org_tree = Path(os.path.normpath(root / run["org_id"]))
    if not prefix.is_relative_to(org_tree):  # links on the way: linked_prefix
        raise InvalidInput(
            f"output_path_template {template!r}: the prefix {prefix} lies outside the org's "
            f"tree {org_tree}"
        )
    return str(prefix.as_uri()) + "/"


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
