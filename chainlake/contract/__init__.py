"""The job contract's JSON Schemas (docs/job-contract.md is the normative text)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

CONTRACT_VERSION = "chainlake.job/v1"
_DIR = Path(__file__).parent


@cache
def schema(name: str) -> dict[str, Any]:
    """`run_request`, `event` or `job_definition`."""
    loaded: dict[str, Any] = json.loads((_DIR / f"{name}.schema.json").read_text())
    return loaded


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


def problems(name: str, document: object) -> list[str]:
    """Every way `document` breaks the schema, each as 'field: reason' (empty when valid)."""
    validator = _validator(name)
    if validator.is_valid(document):
        return []
    found = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        found.append(f"{where}: {error.message}")
    return found
