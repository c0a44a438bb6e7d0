"""The job contract's JSON Schemas (docs/job-contract.md is the normative text).

A value a tenant sets that reaches a path or a command line carries its rule in the schema, as
`x-field` (how the refusal names it) and `x-rule` (what it may hold), beside its `pattern`; the
stored check of sql/jobs/52_tenant_values.sql holds the same rules for clients that skip this one.
`format`s are checked by FORMATS, which knows every format the schemas use.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

CONTRACT_VERSION = "chainlake.job/v1"
_DIR = Path(__file__).parent
# RFC 3986: a scheme, then no whitespace, control character or character that is never in a URI
_URI = re.compile(r"\A[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f\"<>\\^`{|}]*\Z")
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    """RFC 3339: a date, 'T', a time and an offset."""
    if not isinstance(value, str):
        return True
    return value[10:11] in ("T", "t") and datetime.fromisoformat(value).tzinfo is not None


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or _URI.match(value) is not None


@cache
def schema(name: str) -> dict[str, Any]:
    """`run_request`, `event` or `job_definition`."""
    loaded: dict[str, Any] = json.loads((_DIR / f"{name}.schema.json").read_text())
    return loaded


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name), format_checker=FORMATS)


@cache
def rules() -> dict[str, dict[str, Any]]:
    """The contract's stated rules (a `pattern` with `x-field` and `x-rule`), by field."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "x-field" in node:
                found[node["x-field"]] = node
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema("job_definition"))
    walk(schema("event"))  # an output's partition key
    return found


def value_problem(field: str, value: object, named: str | None = None) -> str | None:
    """Why `value` breaks the rule of `field` (refused as `named`, default `field`), or None:
    the same check where a value is used as where it is stored."""
    rule = rules()[field]
    if (
        isinstance(value, str)
        and re.search(rule["pattern"], value)
        and len(value) <= rule.get("maxLength", len(value))
    ):
        return None
    return f"{named or field} {rule['x-rule']} (got {json.dumps(value, ensure_ascii=False)})"


def problems(name: str, document: object) -> list[str]:
    """Every way `document` breaks the schema, each as 'field: reason' (empty when valid), or
    'field rule (got value)' where the schema states the field's rule."""
    validator = _validator(name)
    if validator.is_valid(document):
        return []
    errors = [e for error in validator.iter_errors(document) for e in _chosen(error)]
    return [_message(e) for e in sorted(errors, key=lambda e: list(map(str, e.absolute_path)))]


def _chosen(error: ValidationError) -> list[ValidationError]:
    """A `oneOf` of kinds (the launchers): the errors of the branch whose kind matched, which
    name the field, rather than 'is not valid under any of the given schemas'."""
    if error.validator != "oneOf" or not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    matched = [subs for subs in branches.values() if not any(e.validator == "const" for e in subs)]
    return [e for sub in matched[0] for e in _chosen(sub)] if len(matched) == 1 else [error]


def _message(error: ValidationError) -> str:
    stated = error.schema if isinstance(error.schema, dict) else {}
    if "x-rule" in stated and error.validator in ("pattern", "maxLength", "minLength"):
        got = json.dumps(error.instance, ensure_ascii=False)
        return f"{stated['x-field']} {stated['x-rule']} (got {got})"
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{where}: {error.message}"
