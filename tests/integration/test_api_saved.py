"""Saved queries through the API: create, list, run by name with parameters, update, delete;
private to their owner or shared with the org; usable as views (`saved."<name>"`); each org sees
only its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.conftest import send, token
from tests.tenants import Tenants


def test_saved_queries_lifecycle_visibility_and_parameters(
    api: str,
    tenants: Tenants,
    api_data: None,
    tmp_path: Path,
) -> None:
    wes = token(tmp_path, tenants.user("a", "writer"))
    ann = token(tmp_path, tenants.user("a", "reader"))
    bob = token(tmp_path, tenants.user("b", "admin"))
    q = {
        "name": "big",
        "sql": 'SELECT n FROM "a"."prices" WHERE n >= $min ORDER BY n',
        "params": {"min": 2},
        "visibility": "org",
        "description": "large prices",
    }
    status, saved = send(api, "POST", "/v1/saved-queries/a", wes, q)
    assert status == 201 and saved["visibility"] == "org"
    status, page = send(api, "POST", "/v1/saved-queries/a/big/run", ann, {})
    assert status == 200 and page["rows"] == [[2], [3]]  # the default parameter
    status, page = send(api, "POST", "/v1/saved-queries/a/big/run", ann, {"params": {"min": 3}})
    assert page["rows"] == [[3]]

    private = {"name": "mine", "sql": 'SELECT count(*) AS c FROM "a"."prices"'}
    assert send(api, "POST", "/v1/saved-queries/a", ann, private)[0] == 201
    status, page = send(api, "POST", "/v1/query", ann, {"sql": 'SELECT c FROM saved."mine"'})
    assert status == 200 and page["rows"] == [[3]], "a saved query is a view"
    status, listed = send(api, "GET", "/v1/saved-queries?limit=1", wes)
    names = {q["name"] for q in listed["items"]}
    while listed["next"]:
        status, listed = send(api, "GET", f"/v1/saved-queries?limit=1&after={listed['next']}", wes)
        names |= {q["name"] for q in listed["items"]}
    assert "big" in names and "mine" not in names, "another member's private query is hidden"

    status, listed = send(api, "GET", "/v1/saved-queries", bob)
    assert not {"big", "mine"} & {q["name"] for q in listed["items"]}, "org b sees none of a's"
    assert send(api, "GET", "/v1/saved-queries/a/big", bob)[0] == 404
    assert send(api, "POST", "/v1/saved-queries/a/big/run", bob, {})[0] == 404

    q["sql"] = 'SELECT max(n) AS m FROM "a"."prices" WHERE n >= $min'
    assert send(api, "POST", "/v1/saved-queries/a", wes, q)[0] == 201  # an update
    assert send(api, "POST", "/v1/saved-queries/a/big/run", ann, {})[1]["rows"] == [[3]]
    status, problem = send(api, "DELETE", "/v1/saved-queries/a/big", ann)
    assert status == 404 and "no saved query" in problem["detail"], "only its owner deletes it"
    assert send(api, "DELETE", "/v1/saved-queries/a/big", wes)[0] == 204
    assert send(api, "GET", "/v1/saved-queries/a/big", ann)[0] == 404


def test_bad_saved_queries_are_refused_clearly(
    api: str,
    tenants: Tenants,
    api_data: None,
    tmp_path: Path,
) -> None:
    ann = token(tmp_path, tenants.user("a", "reader"))
    status, problem = send(
        api, "POST", "/v1/saved-queries/a", ann, {"name": "Bad Name!", "sql": "SELECT 1"}
    )
    assert status == 400 and problem["detail"].startswith("name:"), "it names the field"
    status, problem = send(
        api,
        "POST",
        "/v1/saved-queries/a",
        ann,
        {"name": "shared", "sql": "SELECT 1", "visibility": "org"},
    )
    assert status == 403, "a reader may not share with the org"
    status, problem = send(
        api, "POST", "/v1/saved-queries/b", ann, {"name": "x", "sql": "SELECT 1"}
    )
    assert status == 404 and "unknown org" in problem["detail"]
    send(
        api,
        "POST",
        "/v1/saved-queries/a",
        ann,
        {"name": "leak", "sql": "SELECT * FROM duckdb_secrets()"},
    )
    status, problem = send(api, "POST", "/v1/saved-queries/a/leak/run", ann, {})
    assert status == 400 and "duckdb_secrets" in problem["detail"]
    status, page = send(api, "POST", "/v1/query", ann, {"sql": "SELECT 1 AS one"})
    assert page["rows"] == [[1]], "the bad saved query did not break the session"


def test_catalog_search_finds_only_what_the_caller_may_see_and_follows_grants(
    api: str, tenants: Tenants, api_data: None, tmp_path: Path, admin: Any
) -> None:
    ann = token(tmp_path, tenants.user("a", "reader"))
    cy = token(tmp_path, tenants.user("c", "reader"))
    bob = token(tmp_path, tenants.user("b", "reader"))
    admin.execute(
        "UPDATE catalog.datasets SET description = 'token prices in USD', tags = '{pricing}', "
        'schema = \'[{"name": "usd_price", "type": "double"}]\' WHERE name = \'prices\''
    )
    status, found = send(api, "GET", "/v1/catalog/search?q=PRIC", ann)
    hits = {(h["kind"], h["org"], h["name"]) for h in found["items"]}
    assert status == 200 and ("dataset", "a", "prices") in hits
    assert ("column", "a", "prices.usd_price") in hits
    assert send(api, "GET", "/v1/catalog/search?q=pricing", ann)[1]["items"][0]["matched"] == "tag"
    assert not send(api, "GET", "/v1/catalog/search?q=pric", bob)[1]["items"], "b sees none"
    assert send(api, "GET", "/v1/catalog/search?q=secrets", ann)[1]["items"] == []
    assert ("dataset", "a", "prices") in {
        (h["kind"], h["org"], h["name"])
        for h in send(api, "GET", "/v1/catalog/search?q=prices", cy)[1]["items"]
    }, "c reads a's catalog through the grant"
    admin.execute("SELECT core.revoke_org_read('a', 'c')")
    assert send(api, "GET", "/v1/catalog/search?q=prices", cy)[1]["items"] == [], "revoked"
    status, problem = send(api, "GET", "/v1/catalog/search?q=%20", ann)
    assert status == 400 and problem["detail"].startswith("q:"), "it names the field"
