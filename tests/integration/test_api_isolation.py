"""The API attacked: every endpoint of the OpenAPI document (so a new one is covered without
editing this suite), called by each role of org b against org a's objects, with a body built
from the endpoint's own request schema. Nothing of org a's may come back (markers only a's rows
hold), no call that names org a may succeed, and org a's rows are unchanged afterwards."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import OBJECT_NAME as NAME  # b may send it: it is not a secret
from tests.integration.conftest import objects_of_a, path_values, token
from tests.tenants import ROLES, Tenants

HIDDEN = ("hidden_sql_marker", "424242", "CHANMARK", "DESCMARK")  # only a's rows hold these
A_TABLES = (
    "catalog.datasets",
    "catalog.saved_queries",
    "catalog.object_grants",
    "alerts.rules",
    "alerts.channels",
    "jobs.secrets",
    "jobs.definitions",
    "runs.runs",
    "runs.dead_letters",
)
SKIP = {"/health"}


def _example(schema: dict[str, Any], components: dict[str, Any], field: str = "") -> Any:
    """A value of `schema` aimed at org a's objects where the field says what it names."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "oneOf" in schema or "anyOf" in schema:
        options = [
            s for s in schema.get("oneOf", schema.get("anyOf", [])) if s.get("type") != "null"
        ]
        return _example(options[0], components, field) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    aimed = {
        "org": "a",
        "name": NAME,
        "grantee": "b",
        "sql": f'SELECT * FROM "a"."{NAME}"',
        "condition": "true",
        "target": "http://127.0.0.1:9/x",
    }
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {
            k: _example(v, components, k)
            for k, v in props.items()
            if k in schema.get("required", []) or k in aimed
        }
    if kind == "array":
        return [NAME] if field in ("channels",) else []
    if kind == "integer":
        return 1
    if kind == "boolean":
        return False
    return aimed.get(field, "x")


def _call(api: str, method: str, path: str, bearer: str, body: Any) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback http
        api + path,
        data,
        {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _snapshot(admin: psycopg.Connection[Any], org_id: str) -> dict[str, str]:
    out = {}
    for table in A_TABLES:
        row = admin.execute(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            f"FROM {table} t WHERE org_id = %s",
            (org_id,),
        ).fetchone()
        out[table] = str(row[0]) if row else ""
    return out


def test_no_endpoint_lets_org_b_read_or_change_org_a(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    objects_of_a(tenants, admin, api, tmp_path)
    schema = json.loads(urllib.request.urlopen(api + "/schema/openapi.json", timeout=30).read())  # noqa: S310
    components = schema.get("components", {}).get("schemas", {})
    values = path_values(tenants)
    before = _snapshot(admin, tenants.org_ids["a"])
    attacked = 0
    for template, item in schema["paths"].items():
        if template in SKIP:
            continue
        for method, operation in item.items():
            params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            missing = [p for p in params if p not in values]
            assert not missing, f"{method} {template}: give {missing} a value in path_values"
            path = template
            for p in params:
                path = path.replace(f"{{{p}}}", values[p]).replace(f"{{{p}:str}}", values[p])
            body = None
            content = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                body = _example(content["application/json"]["schema"], components)
            for role in ROLES:
                bearer = token(tmp_path, tenants.user("b", role))
                status, answer = _call(api, method.upper(), path, bearer, body)
                attacked += 1
                text = answer.decode(errors="replace")
                leaked = [m for m in (*HIDDEN, tenants.org_ids["a"]) if m in text]
                assert not leaked, f"b.{role} {method} {path}: {leaked} in {text[:300]}"
                assert status < 500, f"b.{role} {method} {path}: {status} {text[:300]}"
                if params:  # it names org a or one of its objects
                    assert not 200 <= status < 300, f"b.{role} {method} {path}: {status}"
    assert attacked >= 3 * 20, "the OpenAPI document lists every endpoint"
    assert _snapshot(admin, tenants.org_ids["a"]) == before, "org a's rows changed"


@pytest.mark.parametrize("role", ROLES)
def test_org_a_itself_reads_its_markers(
    api: str,
    tenants: Tenants,
    api_data: None,
    tmp_path: Path,
    admin: psycopg.Connection[Any],
    role: str,
) -> None:
    """The suite's markers are really there for org a: the test above could not pass vacuously."""
    objects_of_a(tenants, admin, api, tmp_path)
    bearer = token(tmp_path, tenants.user("a", role))
    found = "".join(
        _call(api, "GET", p, bearer, None)[1].decode()
        for p in ("/v1/saved-queries", "/v1/alerts/rules", "/v1/datasets")
    )
    assert "hidden_sql_marker" in found and "424242" in found and "DESCMARK" in found


def test_the_suite_notices_a_leak(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """Let everyone read every org and every saved query, and the suite fails: a leak through
    any endpoint is caught. (One loosened table alone is masked by the other: every list joins
    core.orgs, which is RLS too.)"""
    for table in ("core.orgs", "catalog.saved_queries"):
        admin.execute(f'CREATE POLICY "everyone reads" ON {table} FOR SELECT USING (true)')
    with pytest.raises(AssertionError, match="hidden_sql_marker"):
        test_no_endpoint_lets_org_b_read_or_change_org_a(api, tenants, api_data, tmp_path, admin)
