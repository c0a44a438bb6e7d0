"""Data access through the query service is audited: each query is a `data.query` event in every
org whose datasets it read (with the caller, the SQL and the datasets), seen by that org's admins
only; a query of chain data alone is a platform-level event that only the operator sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.integration.conftest import send, token
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


def test_configuration_changes_and_job_launches_are_audited(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    from cryptography.fernet import Fernet

    from chainlake.secrets import encrypt
    from tests.runtime import TEST_JOBS, apply, request_run, running_runner, wait_for

    org_b = tenants.org_ids["b"]
    writer = tenants.user("b", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml")
    apply(tenants, writer, TEST_JOBS / "behave.yaml")  # the same again: no change, no event
    with tenants.login(writer) as conn:
        conn.execute(
            "SELECT jobs.set_secret('b', 'api_token', %s)",
            (encrypt(Fernet.generate_key(), "hunter2-secret"),),
        )
        conn.execute(
            "INSERT INTO alerts.rules (org_id, name, dataset, condition) "
            "VALUES (%s, 'watch', 'chain.blocks', 'gas_used > 0')",
            (org_b,),
        )
        conn.execute("UPDATE alerts.rules SET enabled = false WHERE name = 'watch'")
        conn.execute("SELECT alerts.delete_rule('b', 'watch')")
    admin.execute("UPDATE core.quotas SET max_queued_tasks = 50 WHERE org_id = %s", (org_b,))
    run = request_run(tenants, writer, "behave", {"do": "ok"})
    with running_runner(tenants, tmp_path):
        wait_for(
            lambda: (
                admin.execute(
                    "SELECT status = 'succeeded' FROM runs.runs WHERE id = %s", (run["id"],)
                ).fetchone()
                == (True,)
            ),
            timeout=60,
        )
    with tenants.login(tenants.user("b", "admin")) as conn:
        events = conn.execute(
            "SELECT action, target, detail FROM audit.events WHERE org_id = %s ORDER BY id",
            (org_b,),
        ).fetchall()
    actions = [(a, t) for a, t, _ in events if not t.endswith("_seed") and "seed" not in t]
    assert ("job.definition.add", "behave") in actions
    assert actions.count(("job.definition.add", "behave")) == 1
    assert not any(a == "job.definition.change" for a, _ in actions), "a no-op apply is no event"
    assert ("secret.add", "api_token") in actions
    assert [a for a, t in actions if t == "watch"] == [
        "alert.rule.add",
        "alert.rule.change",
        "alert.rule.remove",
    ]
    assert ("quota.change", org_b) in actions
    launches = [d for a, _, d in events if a == "job.launch" and d["run_id"] == str(run["id"])]
    assert [(d["attempt"], d["version"]) for d in launches] == [(1, "1")], "one launch, recorded"
    assert "hunter2" not in str(events) and "value_enc" not in str(events)


def test_admins_page_through_their_orgs_audit_through_the_api(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    """GET /v1/audit/events: an admin reads their org's events, newest first and a page at a
    time (logins and queries among them); a reader and another org's admin read none of them."""
    reader = token(tmp_path, tenants.user("a", "reader"))
    for n in range(3):
        assert send(api, "POST", "/v1/query", reader, {"sql": f'SELECT {n} FROM "a"."prices"'})[0]
    boss = token(tmp_path, tenants.user("a", "admin"))
    status, page = send(api, "GET", "/v1/audit/events?action=data.query&limit=2", boss)
    assert status == 200, page
    assert [e["detail"]["sql"] for e in page["items"]] == [
        'SELECT 2 FROM "a"."prices"',
        'SELECT 1 FROM "a"."prices"',
    ]
    assert {e["org"] for e in page["items"]} == {"a"}
    _, rest = send(api, "GET", f"/v1/audit/events?action=data.query&after={page['next']}", boss)
    assert [e["detail"]["sql"] for e in rest["items"]] == ['SELECT 0 FROM "a"."prices"']
    assert rest["next"] is None
    _, logins = send(api, "GET", "/v1/audit/events?action=auth.login&org=a", boss)
    assert tenants.user("a", "reader").email in {e["actor"] for e in logins["items"]}
    for other in (reader, token(tmp_path, tenants.user("b", "admin"))):
        _, seen = send(api, "GET", "/v1/audit/events?org=a", other)
        assert seen["items"] == []


def test_a_page_cursor_out_of_range_is_a_clear_400(
    api: str, tenants: Tenants, tmp_path: Path
) -> None:
    boss = token(tmp_path, tenants.user("a", "admin"))
    status, body = send(api, "GET", f"/v1/audit/events?after={10**20}", boss)
    assert status == 400 and body["detail"].startswith("after:"), body


def test_a_read_through_a_saved_query_view_is_audited_in_the_datasets_org(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    """`saved."q"` names no dataset itself: the audit follows the view to what it reads."""
    ann = token(tmp_path, tenants.user("a", "reader"))
    q = {"name": "total", "sql": 'SELECT sum(n) AS s FROM "a"."prices"'}
    assert send(api, "POST", "/v1/saved-queries/a", ann, q)[0] == 201
    sql = 'SELECT s FROM saved."total"'
    assert send(api, "POST", "/v1/query", ann, {"sql": sql})[0] == 200
    boss = token(tmp_path, tenants.user("a", "admin"))
    _, page = send(api, "GET", "/v1/audit/events?action=data.query&org=a", boss)
    assert [(e["detail"]["sql"], e["detail"]["datasets"]) for e in page["items"]] == [
        (sql, ["a.prices"])
    ]
