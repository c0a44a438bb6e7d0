"""The operator's functions: clear refusals that leave nothing half-created, audit rows, and the
append-only audit log."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from chainlake import tenancy
from chainlake.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from tests.tenants import Tenants


def counts(admin: psycopg.Connection[Any]) -> tuple[Any, ...]:
    row = admin.execute(
        "SELECT (SELECT count(*) FROM core.users), (SELECT count(*) FROM core.memberships), "
        "(SELECT count(*) FROM core.orgs), (SELECT count(*) FROM pg_roles), "
        "(SELECT count(*) FROM audit.events)"
    ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize(
    ("email", "org", "role", "error", "message"),
    [
        ("x@new.example", "nope", "reader", NotFound, 'unknown org "nope"'),
        (
            "x@new.example",
            "a",
            "boss",
            InvalidInput,
            'unknown role "boss": use reader, writer or admin',
        ),
        ("not-an-email", "a", "reader", InvalidInput, 'malformed email "not-an-email"'),
        ("a@b", "a", "reader", InvalidInput, "malformed email"),
        (
            "Reader@A.example",
            "b",
            "reader",
            AlreadyExists,
            'user "reader@a.example" already exists',
        ),
    ],
)
def test_bad_user_input_is_refused_clearly_and_changes_nothing(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    email: str,
    org: str,
    role: str,
    error: type[Exception],
    message: str,
) -> None:
    before = counts(admin)
    with pytest.raises(error) as caught:
        tenancy.create_user(admin, email, org, role)
    assert message in str(caught.value)
    assert counts(admin) == before


def test_org_names_are_validated_and_unique(admin: psycopg.Connection[Any]) -> None:
    tenancy.create_org(admin, "acme")
    before = counts(admin)
    with pytest.raises(AlreadyExists, match='org "acme" already exists'):
        tenancy.create_org(admin, "acme")
    with pytest.raises(InvalidInput, match="invalid org name"):
        tenancy.create_org(admin, "Bad Name!")
    assert counts(admin) == before


def test_creating_a_user_makes_a_login_role_a_membership_and_an_audit_row(
    admin: psycopg.Connection[Any],
) -> None:
    tenancy.create_org(admin, "acme")
    user = tenancy.create_user(admin, "  Ann@Acme.Example ", "acme", "writer")
    assert user["email"] == "ann@acme.example"
    assert admin.execute(
        "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (user["db_role"],)
    ).fetchone() == (True,)
    assert tenancy.list_users(admin, "acme") == [
        {
            "email": "ann@acme.example",
            "org": "acme",
            "role": "writer",
            "created_at": user["created_at"],
        }
    ]
    actions = [r[0] for r in admin.execute("SELECT action FROM audit.events ORDER BY id")]
    assert actions == ["org.create", "member.add", "user.create"]
    tenancy.create_org(admin, "beta")
    tenancy.add_member(admin, "ann@acme.example", "beta", "reader")
    with pytest.raises(AlreadyExists, match="already a member"):
        tenancy.add_member(admin, "ann@acme.example", "beta", "admin")


def test_audit_events_are_append_only_even_for_the_owner(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    for statement in (
        "UPDATE audit.events SET action = 'x'",
        "DELETE FROM audit.events",
        "TRUNCATE audit.events",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            admin.execute(statement)


def test_admins_read_their_own_orgs_audit_only(tenants: Tenants) -> None:
    with tenants.login(tenants.user("a", "admin")) as conn:
        orgs = {str(r[0]) for r in conn.execute("SELECT DISTINCT org_id FROM audit.events")}
    assert orgs == {tenants.org_ids["a"]}
    with tenants.login(tenants.user("a", "writer")) as conn:
        assert conn.execute("SELECT count(*) FROM audit.events").fetchone() == (0,)


def test_queues_are_for_platform_roles_only(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("SELECT pgmq.create('tasks')")
    runner = tenants.cluster.url(tenants.database, "chainlake_runner")
    with psycopg.connect(runner, autocommit=True) as conn:
        conn.execute("SELECT pgmq.send('tasks', '{\"org\": \"a\"}')")
        assert conn.execute("SELECT count(*) FROM pgmq.read('tasks', 30, 10)").fetchone() == (1,)
    for role in ("reader", "admin"):
        with tenants.login(tenants.user("b", role)) as conn:
            for statement in (
                "SELECT * FROM pgmq.q_tasks",
                "SELECT pgmq.read('tasks', 30, 1)",
                "SELECT pgmq.delete('tasks', 1)",
                "SELECT pgmq.set_vt('tasks', 1, 0)",
                "SELECT pgmq.purge_queue('tasks')",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)


def test_permission_errors_translate_to_permission_denied(tenants: Tenants) -> None:
    with tenants.login(tenants.user("a", "reader")) as conn, pytest.raises(PermissionDenied):
        tenancy.create_org(conn, "sneaky")


def test_an_admin_cannot_pull_users_into_their_org_or_hand_memberships_over(
    tenants: Tenants,
) -> None:
    outsider, colleague = tenants.user("b", "admin"), tenants.user("a", "reader")
    a = tenants.org_ids["a"]
    with tenants.login(tenants.user("a", "admin")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO core.memberships (org_id, user_id, role) VALUES (%s, %s, 'admin')",
                (a, outsider.id),
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "UPDATE core.memberships SET user_id = %s WHERE user_id = %s",
                (outsider.id, colleague.id),
            )
        promoted = conn.execute(
            "UPDATE core.memberships SET role = 'writer' WHERE user_id = %s AND org_id = %s",
            (colleague.id, a),
        )
        assert promoted.rowcount == 1


def test_membership_and_grant_changes_are_audited_with_their_real_author(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    a_admin = tenants.user("a", "admin")
    b_admin = tenants.user("b", "admin")
    (start,) = admin.execute("SELECT max(id) FROM audit.events").fetchone() or (0,)
    with tenants.login(a_admin) as conn:
        conn.execute(
            "UPDATE core.memberships SET role = 'writer' WHERE user_id = %s",
            (tenants.user("a", "reader").id,),
        )
        conn.execute("SELECT core.revoke_org_read('a', 'c')")  # no DELETE privilege: a function
        conn.execute(
            "INSERT INTO core.org_grants (org_id, grantee_org_id) VALUES (%s, %s)",
            (tenants.org_ids["a"], tenants.org_ids["b"]),
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # no forged author column
            conn.execute(
                "INSERT INTO core.org_grants (org_id, grantee_org_id, created_by) "
                "VALUES (%s, %s, %s)",
                (tenants.org_ids["a"], tenants.spare_org_id, b_admin.id),
            )
    events = admin.execute(
        "SELECT action, actor_user_id::text FROM audit.events WHERE org_id = %s AND id > %s "
        "ORDER BY id",
        (tenants.org_ids["a"], start),
    ).fetchall()
    assert events == [
        ("member.change", a_admin.id),
        ("grant.remove", a_admin.id),
        ("grant.add", a_admin.id),
    ]
    (creator,) = admin.execute(
        "SELECT created_by::text FROM core.org_grants WHERE org_id = %s AND grantee_org_id = %s",
        (tenants.org_ids["a"], tenants.org_ids["b"]),
    ).fetchone() or (None,)
    assert creator == a_admin.id


def test_who_did_it_columns_cannot_be_forged(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    writer, victim = tenants.user("b", "writer"), tenants.user("b", "admin")
    with tenants.login(writer) as conn:
        conn.execute(
            "INSERT INTO catalog.datasets (org_id, name, owner_id) VALUES (%s, 'mine', %s)",
            (tenants.org_ids["b"], victim.id),
        )
        conn.execute("UPDATE catalog.datasets SET owner_id = %s WHERE name = 'mine'", (victim.id,))
    with tenants.api(writer) as cur:
        cur.execute(
            "INSERT INTO jobs.definitions (org_id, name, version, created_by) "
            "VALUES (%s, 'forged', '1', %s)",
            (tenants.org_ids["b"], victim.id),
        )
    owner = admin.execute(
        "SELECT owner_id::text FROM catalog.datasets WHERE name = 'mine'"
    ).fetchone()
    initiator = admin.execute(
        "SELECT created_by::text FROM jobs.definitions WHERE name = 'forged'"
    ).fetchone()
    assert owner == (writer.id,) and initiator == (writer.id,)
