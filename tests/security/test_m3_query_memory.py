"""M3: query results multiplied memory in the API process (`fetchmany` into Python and JSON
encoding are outside DuckDB's `memory_limit`: a 600 MB result took it to 2.3 GB), and nothing
capped concurrent queries per user. Now results stream from DuckDB in bounded batches straight
to the response, a JSON page has a byte cap as well as a row cap (413 naming the cap and the
streamed formats), and concurrent queries are capped per user and per process (429 with
Retry-After)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPResponse, IncompleteRead
from pathlib import Path
from typing import Any

import pytest

from chainlake.tokens import issue_dev_token
from tests.integration.conftest import api_process, send, serve_api, token
from tests.runtime import wait_for
from tests.tenants import Tenants

ROW_BYTES = 1000


def wide(rows: int) -> str:
    """SQL for `rows` rows of about ROW_BYTES bytes each."""
    return f"SELECT i, repeat('x', {ROW_BYTES}) AS pad FROM range({rows}) t(i)"


@contextmanager
def streaming(api: str, bearer: str, sql: str, fmt: str = "jsonl") -> Iterator[HTTPResponse]:
    """A query whose answer is open and read only in part: its query holds its slot."""
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{api}/v1/query",
        json.dumps({"sql": sql, "format": fmt}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        assert response.status == 200
        assert response.read(1000)
        yield response


def status_of(api: str, bearer: str, sql: str) -> tuple[int, dict[str, Any], str | None]:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{api}/v1/query",
        json.dumps({"sql": sql}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read()), None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("Retry-After")


def test_a_json_page_has_a_byte_cap_naming_the_streamed_formats(
    tenants: Tenants, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLAKE_QUERY_JSON_MAX_BYTES", "1000000")
    reader = token(tmp_path, tenants.user("a", "reader"))
    with serve_api(tenants, tmp_path) as api:
        status, problem = send(api, "POST", "/v1/query", reader, {"sql": wide(5000)})
        assert status == 413, problem
        assert "1000000 bytes" in problem["detail"], problem
        assert "jsonl" in problem["hint"] and "parquet" in problem["hint"], problem
        status, page = send(api, "POST", "/v1/query", reader, {"sql": wide(500)})
        assert status == 200 and page["row_count"] == 500 and not page["truncated"]
        small = {"sql": "SELECT i FROM range(50) t(i)", "max_rows": 10}
        status, page = send(api, "POST", "/v1/query", reader, small)
        assert status == 200 and page["row_count"] == 10 and page["truncated"], page


def test_concurrent_queries_are_capped_per_user_and_per_process(
    tenants: Tenants, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLAKE_QUERY_PER_USER", "1")
    monkeypatch.setenv("CHAINLAKE_QUERY_PER_PROCESS", "2")
    evil = [token(tmp_path, tenants.user("b", role)) for role in ("reader", "writer")]
    acme = token(tmp_path, tenants.user("a", "reader"))
    big = wide(200_000)
    with serve_api(tenants, tmp_path) as api:
        with streaming(api, evil[0], big):
            status, problem, retry = status_of(api, evil[0], "SELECT 1")
            assert status == 429 and retry is not None and int(retry) >= 1, problem
            assert "1 at a time" in problem["detail"], problem
            assert status_of(api, acme, "SELECT 1")[0] == 200  # another user is not held up
            with streaming(api, evil[1], big):
                status, problem, retry = status_of(api, acme, "SELECT 1")
                assert status == 429 and retry is not None, problem
                assert "2 at a time" in problem["detail"], problem
        # the streams are closed: their slots come back
        wait_for(lambda: status_of(api, evil[0], "SELECT 1")[0] == 200, timeout=20, every=0.2)
        assert status_of(api, acme, "SELECT 1")[0] == 200


def test_one_orgs_users_share_a_cap_below_the_process(
    tenants: Tenants, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review finding: an org's users, two slots each, could hold every slot of the process
    with slow downloads (acme got 429 for a `select 1`). Now one org's users share a cap."""
    monkeypatch.setenv("CHAINLAKE_QUERY_PER_ORG", "2")
    monkeypatch.setenv("CHAINLAKE_QUERY_PER_PROCESS", "3")
    evil = [token(tmp_path, tenants.user("b", role)) for role in ("reader", "writer", "admin")]
    acme = token(tmp_path, tenants.user("a", "reader"))
    big = wide(200_000)
    with (
        serve_api(tenants, tmp_path) as api,
        streaming(api, evil[0], big),
        streaming(api, evil[1], big),
    ):
        status, problem, retry = status_of(api, evil[2], "SELECT 1")
        assert status == 429 and retry is not None, problem
        assert "2 at a time per org" in problem["detail"], problem
        assert status_of(api, acme, "SELECT 1")[0] == 200


def test_a_client_that_stops_reading_gives_its_slot_back(
    tenants: Tenants, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download whose client stops reading held its slot for ever (the query's time limit
    ends the query, not the stream). Now it is cut after the idle time, and the slot is free."""
    monkeypatch.setenv("CHAINLAKE_QUERY_PER_PROCESS", "1")
    monkeypatch.setenv("CHAINLAKE_QUERY_STREAM_IDLE_SECONDS", "2")
    evil = token(tmp_path, tenants.user("b", "reader"))
    acme = token(tmp_path, tenants.user("a", "reader"))
    with serve_api(tenants, tmp_path) as api, streaming(api, evil, wide(2_000_000)) as held:
        assert status_of(api, acme, "SELECT 1")[0] == 429
        wait_for(lambda: status_of(api, acme, "SELECT 1")[0] == 200, timeout=30, every=0.5)
        with pytest.raises(IncompleteRead):  # cut mid-answer, not ended as if whole
            while held.read(1 << 20):
                pass


# -- the API process's peak memory for a large result ----------------------------------------
def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def test_a_large_result_streams_through_the_api_in_bounded_memory(
    tenants: Tenants, tmp_path: Path
) -> None:
    """600 MB of result (600,000 rows of 1 kB) as JSON lines, then a JSON page of 100,000 such
    rows (refused by its byte cap): the API process's peak RSS stays far below the result."""
    user = tenants.user("a", "reader")
    bearer = issue_dev_token(tmp_path / "dev-issuer", user.id, user.email)
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    with api_process(url, tmp_path) as (api, pid):
        assert status_of(api, bearer, "SELECT 1")[0] == 200
        at_rest = peak_rss_mb(pid)
        received = 0
        with streaming(api, bearer, wide(600_000)) as response:
            while chunk := response.read(1 << 20):
                received += len(chunk)
        page = {"sql": wide(100_000), "max_rows": 100_000}
        status, _ = send(api, "POST", "/v1/query", bearer, page)
        peak = peak_rss_mb(pid)
    print(f"api peak RSS: {at_rest:.0f} MB at rest, {peak:.0f} MB after {received / 1e6:.0f} MB")
    assert received > 600_000 * ROW_BYTES
    assert status == 413
    assert peak - at_rest < 400, f"the API grew by {peak - at_rest:.0f} MB for one result"
