"""Sharing one dataset or one saved query with another org, read-only, through the API: listed,
revocable, and the revocation takes effect on the grantee's next request. Only an admin shares a
dataset; only its owner (a writer) shares a saved query; bad requests lose nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.integration.conftest import send, token
from tests.integration.test_query_engine import add_dataset
from tests.tenants import Tenants

PRICES_SUM = {"sql": 'SELECT sum(n) AS total FROM "a"."prices"'}


def test_a_shared_dataset_is_read_by_the_grantee_until_revoked(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    hidden = tmp_path / "store" / tenants.org_ids["a"] / "_runs" / "r" / "hidden.parquet"
    add_dataset(admin, tenants.org_ids["a"], "hidden", hidden, [7])
    ada = token(tmp_path, tenants.user("a", "admin"))
    bob = token(tmp_path, tenants.user("b", "reader"))
    cy = token(tmp_path, tenants.user("c", "reader"))
    admin.execute("SELECT core.revoke_org_read('a', 'c')")  # c reads nothing of a's but a grant

    status, problem = send(api, "POST", "/v1/query", bob, PRICES_SUM)
    assert status == 400 and "prices" in problem["detail"], "before the grant b cannot read it"

    grant = {"kind": "dataset", "org": "a", "name": "prices", "grantee": "b"}
    assert send(api, "POST", "/v1/grants", ada, grant)[0] == 201
    status, page = send(api, "POST", "/v1/query", bob, PRICES_SUM)
    assert status == 200 and page["rows"] == [[6]], "the grantee reads the shared dataset"
    status, problem = send(api, "POST", "/v1/query", bob, {"sql": 'SELECT * FROM "a"."hidden"'})
    assert status == 400, "a's other datasets stay hidden"
    listed = {(d["org"], d["name"]) for d in send(api, "GET", "/v1/datasets", bob)[1]["items"]}
    assert ("a", "prices") in listed and ("a", "hidden") not in listed
    found = send(api, "GET", "/v1/catalog/search?q=prices", bob)[1]["items"]
    assert ("dataset", "a", "prices") in {(h["kind"], h["org"], h["name"]) for h in found}
    assert send(api, "POST", "/v1/query", cy, PRICES_SUM)[0] == 400, "org c got nothing"

    for who, sees in ((ada, True), (bob, True), (cy, False)):
        grants = send(api, "GET", "/v1/grants", who)[1]["items"]
        shown = {(g["kind"], g["org"], g["name"], g["grantee"]) for g in grants}
        assert (("dataset", "a", "prices", "b") in shown) == sees
    audited = admin.execute(
        "SELECT count(*) FROM audit.events WHERE org_id = %s AND action = 'grant.add' "
        "AND detail ->> 'object_kind' = 'dataset' AND target = %s",
        (tenants.org_ids["a"], "b"),
    ).fetchone()
    assert audited == (1,), "the grant is an audit event of the grantor, naming the grantee"

    assert send(api, "DELETE", "/v1/grants/dataset/a/prices/b", bob)[0] == 404, "not b's to revoke"
    assert send(api, "DELETE", "/v1/grants/dataset/a/prices/b", ada)[0] == 204
    status, problem = send(api, "POST", "/v1/query", bob, PRICES_SUM)
    assert status == 400, "revoked: the next request no longer reads it"
    assert send(api, "GET", "/v1/grants", bob)[1]["items"] == []


def test_a_shared_saved_query_runs_as_the_grantee(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    wes = token(tmp_path, tenants.user("a", "writer"))
    ada = token(tmp_path, tenants.user("a", "admin"))
    bob = token(tmp_path, tenants.user("b", "reader"))
    big = {
        "name": "big",
        "sql": 'SELECT n FROM "a"."prices" WHERE n >= $min ORDER BY n',
        "params": {"min": 2},
    }
    assert send(api, "POST", "/v1/saved-queries/a", wes, big)[0] == 201  # private to wes
    assert send(api, "GET", "/v1/saved-queries/a/big", bob)[0] == 404

    share = {"kind": "saved_query", "org": "a", "name": "big", "grantee": "b"}
    assert send(api, "POST", "/v1/grants", wes, share)[0] == 201
    status, found = send(api, "GET", "/v1/saved-queries/a/big", bob)
    assert status == 200 and found["sql"] == big["sql"]
    assert "big" in {q["name"] for q in send(api, "GET", "/v1/saved-queries", bob)[1]["items"]}
    status, problem = send(api, "POST", "/v1/saved-queries/a/big/run", bob, {})
    assert status == 400 and "prices" in problem["detail"], "it runs with b's rights, not a's"
    data = {"kind": "dataset", "org": "a", "name": "prices", "grantee": "b"}
    assert send(api, "POST", "/v1/grants", ada, data)[0] == 201
    status, page = send(api, "POST", "/v1/saved-queries/a/big/run", bob, {"params": {"min": 3}})
    assert status == 200 and page["rows"] == [[3]]

    assert send(api, "DELETE", "/v1/saved-queries/a/big", wes)[0] == 204
    assert send(api, "GET", "/v1/saved-queries/a/big", bob)[0] == 404
    kinds = {g["kind"] for g in send(api, "GET", "/v1/grants", bob)[1]["items"]}
    assert kinds == {"dataset"}, "deleting a shared query deletes its grants"


def test_sharing_is_refused_clearly_and_loses_nothing(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path
) -> None:
    ann = token(tmp_path, tenants.user("a", "reader"))
    wes = token(tmp_path, tenants.user("a", "writer"))
    ada = token(tmp_path, tenants.user("a", "admin"))
    bob = token(tmp_path, tenants.user("b", "admin"))
    assert send(api, "POST", "/v1/saved-queries/a", ann, {"name": "mine", "sql": "SELECT 1"})[0]
    data = {"kind": "dataset", "org": "a", "name": "prices", "grantee": "b"}
    assert send(api, "POST", "/v1/grants", ada, data)[0] == 201

    cases: list[tuple[str, dict[str, str], int, str]] = [
        (wes, data | {"grantee": "c"}, 403, "an admin of the org shares its datasets"),
        (ann, data | {"grantee": "c"}, 403, "an admin of the org shares its datasets"),
        (bob, data | {"grantee": "c"}, 404, 'org "a" has no dataset "prices"'),
        (ada, data, 409, "already shared"),
        (ada, data | {"grantee": "a"}, 400, "already reads its own"),
        (ada, data | {"grantee": "nowhere"}, 404, 'unknown org "nowhere"'),
        (ada, data | {"name": "nope"}, 404, 'no dataset "nope"'),
        (wes, {**data, "kind": "saved_query", "name": "mine"}, 404, "you have no saved query"),
        (ann, {**data, "kind": "saved_query", "name": "mine"}, 403, "as a writer of its org"),
    ]
    for bearer, body, status, says in cases:
        got, problem = send(api, "POST", "/v1/grants", bearer, body)
        text = f"{problem.get('detail')} {problem.get('hint', '')}"
        assert got == status and says in text, (body, got, problem)
    status, problem = send(api, "POST", "/v1/grants", ada, {**data, "kind": "job"})
    assert status == 400, problem
    grants = send(api, "GET", "/v1/grants", ada)[1]["items"]
    shared = [(g["org"], g["name"], g["grantee"]) for g in grants if g["grantee"] != "spare"]
    assert shared == [("a", "prices", "b")], "nothing but the one grant was made"
    assert send(api, "POST", "/v1/query", bob, PRICES_SUM)[1]["rows"] == [[6]], "grant kept"
