"""Alert rules and channels through the API: created, listed, shown with firings, disabled,
deleted; a bad condition is refused with a 400 that names the problem and loses nothing; a
channel secret is never returned; org b sees none of org a's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.integration.conftest import send, token
from tests.tenants import Tenants

WHALE = {
    "name": "whale",
    "dataset": "chain.transactions",
    "condition": "value > 1000",
    "channels": ["ops"],
}


def test_rules_and_channels_through_the_api(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    wes = token(tmp_path, tenants.user("a", "writer"))
    ann = token(tmp_path, tenants.user("a", "reader"))
    bob = token(tmp_path, tenants.user("b", "admin"))
    ops = {"name": "ops", "kind": "webhook", "target": "http://127.0.0.1:9/ops", "secret": "k3y"}
    assert send(api, "POST", "/v1/alerts/channels/a", ann, ops)[0] == 403, "readers read"
    status, problem = send(api, "POST", "/v1/alerts/channels/a", wes, ops)
    assert status == 201, problem
    status, page = send(api, "GET", "/v1/alerts/channels", ann)
    (channel,) = [c for c in page["items"] if c["name"] == "ops"]
    assert channel["has_secret"] is True and "k3y" not in str(page), "the secret never returns"

    status, problem = send(api, "POST", "/v1/alerts/rules/a", wes, WHALE)
    assert status == 201, problem
    bad = {**WHALE, "condition": "value > (SELECT count(*) FROM core.users)"}
    status, problem = send(api, "POST", "/v1/alerts/rules/a", wes, bad)
    assert status == 400 and "may not read other tables" in problem["detail"]
    status, shown = send(api, "GET", "/v1/alerts/rules/a/whale", ann)
    assert status == 200 and shown["rule"]["condition"] == "value > 1000", "nothing was lost"
    assert shown["firings"] == []
    status, problem = send(
        api, "POST", "/v1/alerts/rules/a", wes, {**WHALE, "name": "other", "channels": ["nope"]}
    )
    assert status == 400 and '"nope" is not a channel' in problem["detail"]

    assert send(api, "POST", "/v1/alerts/rules/a/whale/enabled", ann, {"enabled": False})[0] == 404
    assert send(api, "POST", "/v1/alerts/rules/a/whale/enabled", wes, {"enabled": False})[0] == 200
    listed = send(api, "GET", "/v1/alerts/rules", ann)[1]["items"]
    assert [(r["name"], r["enabled"]) for r in listed if r["name"] == "whale"] == [("whale", False)]
    assert "whale" not in {r["name"] for r in send(api, "GET", "/v1/alerts/rules", bob)[1]["items"]}
    assert send(api, "GET", "/v1/alerts/rules/a/whale", bob)[0] == 404
    assert send(api, "DELETE", "/v1/alerts/rules/a/whale", bob)[0] == 404
    assert send(api, "DELETE", "/v1/alerts/rules/a/whale", wes)[0] == 204
    assert send(api, "GET", "/v1/alerts/rules/a/whale", ann)[0] == 404
