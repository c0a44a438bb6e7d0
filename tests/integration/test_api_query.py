"""The API over real HTTP on 127.0.0.1: bearer JWTs from the dev issuer, RFC 9457 problems,
OpenAPI at /schema, paginated lists, POST /v1/query with JSON pages and streamed downloads, each
request under the caller's identity."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.integration.conftest import call, token
from tests.tenants import Tenants


def test_query_answers_as_the_caller_and_errors_are_problem_details(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    ann = token(tmp_path, tenants.user("a", "reader"))
    status, kind, body = call(api, "/v1/query", {"sql": 'SELECT sum(n) s FROM "a"."prices"'}, ann)
    assert status == 200, body
    page = json.loads(body)
    assert page["rows"] == [[6]] and page["columns"][0]["name"] == "s"

    status, kind, body = call(api, "/v1/query", {"sql": 'SELECT * FROM "b"."secrets"'}, ann)
    problem = json.loads(body)
    assert status == 400 and kind.startswith("application/problem+json")
    assert problem["status"] == 400 and "does not exist" in problem["detail"]

    status, kind, body = call(api, "/v1/query", {"sql": "SELECT * FROM duckdb_secrets()"}, ann)
    assert status == 400 and "duckdb_secrets" in json.loads(body)["detail"]

    status, kind, body = call(api, "/v1/query", {"sql": "SELECT 1"})
    assert status == 401 and json.loads(body)["title"] == "Not authenticated"
    status, _, body = call(api, "/v1/query", {"sql": "SELECT 1"}, ann[:-4] + "AAAA")
    assert status == 401 and "token refused" in json.loads(body)["detail"]

    status, _, body = call(api, "/v1/query", {"sql": "SELECT 1", "format": "xml"}, ann)
    assert status == 400 and json.loads(body)["type"].endswith("/invalid-input")


def test_downloads_stream_in_each_format(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    ann = token(tmp_path, tenants.user("a", "reader"))
    sql = "SELECT i, 'x' || i AS s, '\\x01'::BLOB AS b FROM range(120000) t(i)"
    status, kind, body = call(api, "/v1/query", {"sql": sql, "format": "csv"}, ann)
    lines = body.decode().splitlines()
    assert status == 200 and kind.startswith("text/csv")
    assert lines[0] == '"i","s","b"' and len(lines) == 120001 and lines[1].endswith('"0x01"')
    status, _, body = call(api, "/v1/query", {"sql": sql, "format": "jsonl"}, ann)
    rows = [json.loads(x) for x in body.decode().splitlines()]
    assert len(rows) == 120000 and rows[5] == {"i": 5, "s": "x5", "b": "0x01"}
    status, _, body = call(api, "/v1/query", {"sql": sql, "format": "parquet"}, ann)
    assert pq.read_table(io.BytesIO(body)).num_rows == 120000
    status, _, body = call(api, "/v1/query", {"sql": sql, "format": "arrow"}, ann)
    assert pa.ipc.open_stream(body).read_all().num_rows == 120000


def test_lists_are_pages_and_openapi_is_served(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    ann = token(tmp_path, tenants.user("c", "reader"))  # org c reads its own and org a's
    seen: list[str] = []
    after = ""
    for _ in range(20):
        status, _, body = call(api, f"/v1/datasets?limit=1{after}", bearer=ann)
        assert status == 200
        page = json.loads(body)
        seen += [f"{d['org']}/{d['name']}" for d in page["items"]]
        if not page["next"]:
            break
        after = f"&after={urllib.parse.quote(page['next'])}"
    assert "a/prices" in seen and not any(s.startswith("b/") for s in seen)
    assert len(seen) == len(set(seen)) >= 3
    status, _, body = call(api, "/schema/openapi.json")
    paths = json.loads(body)["paths"]
    assert status == 200 and {"/v1/query", "/v1/datasets", "/v1/whoami"} <= set(paths)
