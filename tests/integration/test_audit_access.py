"""Data access through the query service is audited: each query is a `data.query` event in every
org whose datasets it read (with the caller, the SQL and the datasets), seen by that org's admins
only; a query of chain data alone is a platform-level event that only the operator sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.integration.conftest import token
from tests.integration.test_api_saved import send
from tests.tenants import Tenants


def test_queries_are_audited_in_the_orgs_whose_data_they_read(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    ann = token(tmp_path, tenants.user("a", "reader"))
    sql = 'SELECT sum(n) FROM "a"."prices"'
    assert send(api, "POST", "/v1/query", ann, {"sql": sql})[0] == 200
    assert send(api, "POST", "/v1/query", ann, {"sql": "SELECT 1 AS one"})[0] == 200
    with tenants.login(tenants.user("a", "admin")) as conn:
        events = conn.execute(
            "SELECT e.actor_user_id::text, e.detail FROM audit.events e "
            "WHERE e.action = 'data.query'"
        ).fetchall()
    assert [(who, d["sql"], d["datasets"]) for who, d in events] == [
        (tenants.user("a", "reader").id, sql, ["a.prices"])
    ]
    for other in (tenants.user("a", "writer"), tenants.user("b", "admin")):
        with tenants.login(other) as conn:
            seen = conn.execute(
                "SELECT count(*) FROM audit.events WHERE action = 'data.query'"
            ).fetchone()
        assert seen == (0,), f"{other.email} reads no query audit"
    platform = admin.execute(
        "SELECT count(*) FROM audit.events WHERE action = 'data.query' AND org_id IS NULL "
        "AND detail ->> 'sql' = 'SELECT 1 AS one'"
    ).fetchone()
    assert platform == (1,), "a query of no org's data is a platform-level event"
