"""L5: org ids and user ids were enumerable: `catalog.grantee_org_id('acme')` answered any org's
id to any user, and `pg_roles`, readable by every role, named each login role clu_<user id>.
Login roles now have random names (existing ones renamed at the next apply); sharing names the
grantee org inside the stored functions and nothing hands its id back (not the function, not
the grant row, not the grantor's audit event)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from chainlake.migrate import migrate
from tests.tenants import Tenants


def _hex(user_id: str) -> str:
    return user_id.replace("-", "")


def test_no_login_role_name_carries_a_user_id(tenants: Tenants) -> None:
    with tenants.login(tenants.user("b", "reader")) as evil:
        names = " ".join(r[0] for r in evil.execute("SELECT rolname FROM pg_roles").fetchall())
    for user in tenants.users.values():
        assert _hex(user.id) not in names and user.id not in names, user.email
        assert user.db_role.startswith("clu_")


def test_login_roles_named_after_user_ids_are_renamed_at_the_next_apply(
    tenants: Tenants, admin: psycopg.Connection[Any], admin_url: str
) -> None:
    victim = tenants.user("a", "reader")
    legacy = "clu_" + _hex(victim.id)  # how every login role was named before
    admin.execute(f'ALTER ROLE "{victim.db_role}" RENAME TO "{legacy}"')
    admin.execute("UPDATE core.users SET db_role = %s WHERE id = %s", (legacy, victim.id))
    admin.execute("DELETE FROM chainlake_meta.applied_files WHERE path LIKE '%%30_tenancy.sql'")
    migrate(admin_url)
    (renamed,) = admin.execute(
        "SELECT db_role FROM core.users WHERE id = %s", (victim.id,)
    ).fetchone() or ("",)
    assert renamed != legacy and _hex(victim.id) not in renamed and renamed.startswith("clu_")
    assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (legacy,)).fetchone() is None
    url = tenants.cluster.url(tenants.database, renamed)
    with psycopg.connect(url) as conn:  # the renamed role still logs in as the same user
        assert conn.execute("SELECT core.caller_user_id()::text").fetchone() == (victim.id,)


def test_no_function_answers_an_org_id_for_a_name(tenants: Tenants) -> None:
    with (
        tenants.login(tenants.user("b", "admin")) as evil,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        evil.execute("SELECT catalog.grantee_org_id('a')")


def test_sharing_with_an_org_does_not_reveal_its_id(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    acme = tenants.org_ids["a"]
    with tenants.login(tenants.user("b", "admin")) as evil:
        evil.execute("SELECT catalog.save_query('b', 'lure', 'select 1', 'org')")
        answer = evil.execute("SELECT * FROM catalog.grant_read('saved_query', 'b', 'lure', 'a')")
        assert acme not in repr(answer.fetchall())
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            evil.execute("SELECT grantee_org_id FROM catalog.object_grants")
        listed = evil.execute(
            "SELECT grantee FROM catalog.list_grants(NULL, 100) WHERE name = 'lure'"
        ).fetchone()
        assert listed == ("a",)
        audit = evil.execute("SELECT * FROM audit.list_events('b', 'grant.add', NULL, 10)")
        events = audit.fetchall()
        assert events and acme not in repr(events)
        evil.execute("SELECT catalog.revoke_read('saved_query', 'b', 'lure', 'a')")
        left = "SELECT count(*) FROM catalog.object_grants WHERE object_kind = 'saved_query'"
        assert evil.execute(left).fetchone() == (0,)
    stored = admin.execute(
        "SELECT target FROM audit.events WHERE action = 'grant.add' AND org_id = %s",
        (tenants.org_ids["b"],),
    ).fetchall()
    assert ("a",) in stored
