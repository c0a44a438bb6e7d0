"""Issue 17 turned runs.show and core.whoami into plpgsql (plans kept per session). SECURITY.md
item 8: one pooled connection runs them as a's reader, then b's, many times over (past the
point where plpgsql switches to a generic plan), and each identity sees only its own. Holds."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.db import claims_transaction
from tests.tenants import Tenants


def test_show_and_whoami_keep_no_identity_in_their_kept_plans(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    for name in ("runs.show(text)", "core.whoami()"):
        (definer,) = admin.execute(
            "SELECT prosecdef FROM pg_proc WHERE oid = %s::regprocedure", (name,)
        ).fetchone() or (True,)
        assert definer is False, f"{name} must not be SECURITY DEFINER"
    (run_a,) = admin.execute(
        "SELECT id::text FROM runs.runs WHERE org_id = %s LIMIT 1", (tenants.org_ids["a"],)
    ).fetchone() or ("",)
    ann, bob = tenants.user("a", "reader"), tenants.user("b", "reader")
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    with psycopg.connect(url) as conn:
        for _ in range(12):
            for user, sees in ((ann, True), (bob, False)):
                with claims_transaction(conn, {"sub": user.id}) as cur:
                    shown = cur.execute("SELECT runs.show(%s) AS run", (run_a,)).fetchone()
                    assert shown is not None and (shown["run"] is not None) is sees, user.email
                    me = cur.execute("SELECT email, org FROM core.whoami()").fetchall()
                    assert {r["email"] for r in me} == {user.email}
                    assert {r["org"] for r in me} == {user.org}
        with claims_transaction(conn, {}) as cur:  # no identity: nothing
            assert cur.execute("SELECT runs.show(%s) AS r", (run_a,)).fetchone() == {"r": None}
            assert cur.execute("SELECT * FROM core.whoami()").fetchall() == []
