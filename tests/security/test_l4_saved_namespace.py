"""L4: a saved query shared with another org landed in the grantee's `saved.*` namespace, unasked,
and one whose org sorts first replaced the grantee's own saved query of the same name. Now the
bare `saved."<name>"` holds only the caller's own orgs' saved queries (the caller's own first);
one shared by another org is reachable only as `saved."<grantor org>.<name>"`, from the grant
on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.integration.conftest import send, token
from tests.tenants import Tenants, User


def _query(api: str, bearer: str, sql: str) -> tuple[int, Any]:
    return send(api, "POST", "/v1/query", bearer, {"sql": sql})


def _evil_first(admin: psycopg.Connection[Any]) -> User:
    """A writer of an org whose name sorts before acme's ("a")."""
    admin.execute("SELECT core.create_org('0evil')")
    row = admin.execute(
        "SELECT id::text, db_role FROM core.create_user('w@0evil.example', '0evil', 'writer')"
    ).fetchone()
    assert row is not None
    return User("w@0evil.example", "0evil", "writer", row[0], row[1])


def test_a_shared_saved_query_never_shadows_the_grantees_own(
    tenants: Tenants, admin: psycopg.Connection[Any], api: str, tmp_path: Path
) -> None:
    acme_writer = token(tmp_path, tenants.user("a", "writer"))
    acme_reader = token(tmp_path, tenants.user("a", "reader"))
    evil = token(tmp_path, _evil_first(admin))
    own = {"name": "q", "sql": "SELECT 'acme-own' AS who", "visibility": "private"}
    assert send(api, "POST", "/v1/saved-queries/a", acme_writer, own)[0] == 201
    for name in ("q", "only_evil"):
        lure = {"name": name, "sql": "SELECT 'evil' AS who", "visibility": "org"}
        assert send(api, "POST", "/v1/saved-queries/0evil", evil, lure)[0] == 201
        assert _query(api, acme_reader, f'SELECT who FROM saved."0evil.{name}"')[0] == 400
        grant = {"kind": "saved_query", "org": "0evil", "name": name, "grantee": "a"}
        assert send(api, "POST", "/v1/grants", evil, grant)[0] == 201

    status, page = _query(api, acme_writer, 'SELECT who FROM saved."q"')
    assert status == 200 and page["rows"] == [["acme-own"]], page
    for who in (acme_writer, acme_reader):
        for name in ("q", "only_evil"):  # the grantee reaches it under its grantor's name only
            status, page = _query(api, who, f'SELECT who FROM saved."0evil.{name}"')
            assert status == 200 and page["rows"] == [["evil"]], page
    # the reader has no saved query "q" of its own orgs: the bare name is not evil's
    for name in ("q", "only_evil"):
        status, problem = _query(api, acme_reader, f'SELECT who FROM saved."{name}"')
        assert status == 400, (name, problem)
