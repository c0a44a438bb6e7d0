"""Found by the noisy-neighbour suite (SECURITY.md item 22): a query session creates a view of
every dataset its caller may read, and DuckDB reads a file to create one. One file that does
not parse (a run's `out.txt` of plain text, read as JSON lines) made every query of everyone who
may read its dataset fail with 500, `SELECT 1` included: evil's users at once, and acme's too
once evil shared the dataset with acme, which needs no consent of acme's.

Now a dataset whose files cannot be read is left out of the session with its reason: a query
that names it is refused naming the dataset and the reason, and every other query runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.integration.conftest import send, token
from tests.integration.test_query_engine import add_dataset
from tests.tenants import Tenants


def test_a_dataset_that_does_not_parse_breaks_no_other_query(
    tenants: Tenants, admin: psycopg.Connection[Any], api: str, tmp_path: Path
) -> None:
    org_a, org_b = tenants.org_ids["a"], tenants.org_ids["b"]
    store = tmp_path / "store"
    add_dataset(admin, org_a, "prices", store / org_a / "_runs" / "r" / "p.parquet", [1, 2, 3])
    broken = store / org_b / "_runs" / "r" / "out.txt"
    add_dataset(admin, org_b, "broken", broken, [0])
    broken.write_text("ok\n")  # what a run wrote: text, not JSON
    with tenants.login(tenants.user("b", "admin")) as evil:
        evil.execute("SELECT catalog.grant_read('dataset', 'b', 'broken', 'a')")
    acme = token(tmp_path, tenants.user("a", "reader"))
    for sql in ("SELECT 1 AS one", 'SELECT sum(n) AS one FROM "a"."prices"'):
        status, page = send(api, "POST", "/v1/query", acme, {"sql": sql})
        assert status == 200, page
    status, problem = send(api, "POST", "/v1/query", acme, {"sql": 'SELECT * FROM "b"."broken"'})
    assert status == 400, problem
    assert "b.broken" in problem["detail"] and "cannot be read" in problem["detail"], problem
    evil_reader = token(tmp_path, tenants.user("b", "reader"))
    assert send(api, "POST", "/v1/query", evil_reader, {"sql": "SELECT 1"})[0] == 200
