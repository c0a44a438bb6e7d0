"""C2: SQL injection as the superuser through `alerts.rules.predicate` (SECURITY.md item 21).

The attack: org "evil"'s writer (org b here) UPDATEd its rule's `predicate`, a column the
checking trigger did not watch, and the superuser-owned evaluation functions formatted it into
dynamic SQL at the next block: `last_error` showed `postgres super=true pii=...` (reading), and a
predicate calling `core.add_member` made evil's writer an admin of acme (org a here).

Closed three ways, each tested here: tenants cannot write the column; the checking trigger
recomputes it on every insert and update, whatever changes; and a predicate runs as
chainlake_evaluator, which reads the chain tables and nothing else, so even a predicate planted
past the trigger (by the operator, or by a rule stored before this fix) reaches nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.tenants import Tenants

READ_ACME = (
    "(SELECT current_user || ' super=' || (SELECT rolsuper FROM pg_catalog.pg_roles "
    "WHERE rolname = current_user)::text || ' pii=' || (SELECT string_agg(label, ',') "
    "FROM pii.address_labels))::int > 0"
)
JOIN_ACME = "(SELECT core.add_member('writer@b.example', 'a', 'admin')) IS NULL"


def test_a_writer_cannot_write_the_predicate_or_the_evaluation_state(tenants: Tenants) -> None:
    evil = tenants.user("b", "writer")
    org_b = tenants.org_ids["b"]
    with tenants.login(evil) as conn:
        for column, value in (("predicate", JOIN_ACME), ("last_error", None)):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"UPDATE alerts.rules SET {column} = %s", (value,))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO alerts.rules (org_id, name, dataset, condition, predicate) "
                "VALUES (%s, 'sneaky', 'chain.blocks', 'true', %s)",
                (org_b, JOIN_ACME),
            )
        # what writers do write still works: the rule's own fields
        conn.execute("UPDATE alerts.rules SET severity = 'critical', description = 'mine'")
    with tenants.api(evil) as cur, pytest.raises(errors.InsufficientPrivilege):
        cur.execute("UPDATE alerts.rules SET predicate = %s", (READ_ACME,))


def test_the_predicate_is_recomputed_from_the_checked_condition_on_every_change(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    # even the operator (a superuser, past every column privilege) cannot store another one
    admin.execute("UPDATE alerts.rules SET predicate = %s", (JOIN_ACME,))
    admin.execute("UPDATE alerts.rules SET predicate = %s, enabled = false", (READ_ACME,))
    with tenants.login(tenants.user("b", "writer")) as conn:
        conn.execute("UPDATE alerts.rules SET description = 'only this changed'")
    stored = admin.execute("SELECT predicate, condition FROM alerts.rules").fetchall()
    assert stored and all(predicate == condition for predicate, condition in stored), stored


@contextmanager
def planted(admin: psycopg.Connection[Any]) -> Iterator[None]:
    """Past the checking trigger, as only the operator can be: what a rule stored before this
    fix, or an injection we have not thought of, would leave in `predicate`."""
    admin.execute("ALTER TABLE alerts.rules DISABLE TRIGGER rules_checked")
    try:
        yield
    finally:
        admin.execute("ALTER TABLE alerts.rules ENABLE TRIGGER rules_checked")


INJECTED = {
    "whoami": "current_user = 'chainlake_evaluator'",
    "superuser": "(SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)",
    "read-acme": READ_ACME,
    "join-acme": JOIN_ACME,
    "acme-rules": "EXISTS (SELECT 1 FROM alerts.rules WHERE name = 'rule_a_seed')",
    "acme-firings": "(SELECT count(*) FROM alerts.firings) >= 0",
    "acme-datasets": "(SELECT count(*) FROM catalog.datasets) >= 0",
}


def test_an_injected_predicate_runs_as_the_evaluation_role_and_reaches_nothing(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    org_b = tenants.org_ids["b"]
    admin.execute("UPDATE alerts.rules SET enabled = false")  # the tenants' seed rules
    with tenants.login(tenants.user("b", "writer")) as conn:
        for name in INJECTED:
            conn.execute(
                "INSERT INTO alerts.rules (org_id, name, dataset, condition) "
                "VALUES (%s, %s, 'chain.blocks', 'number >= 0')",
                (org_b, name),
            )
    with planted(admin):
        for name, predicate in INJECTED.items():
            admin.execute(
                "UPDATE alerts.rules SET predicate = %s WHERE org_id = %s AND name = %s",
                (predicate, org_b, name),
            )
    admin.execute("SELECT alerts.evaluate(1, 1, 1, 'provisional')")  # the seeded block 1

    fired = {
        r[0]
        for r in admin.execute(
            "SELECT r.name FROM alerts.firings f JOIN alerts.rules r ON r.id = f.rule_id"
        )
    }
    assert fired == {"whoami"}, "it runs as chainlake_evaluator, which is no superuser"
    errors_by_rule = dict(
        admin.execute(
            "SELECT name, last_error FROM alerts.rules WHERE org_id = %s AND name = ANY(%s)",
            (org_b, [n for n in INJECTED if n not in ("whoami", "superuser")]),
        ).fetchall()
    )
    assert len(errors_by_rule) == len(INJECTED) - 2
    for name, error in errors_by_rule.items():
        assert error is not None and "permission denied" in error, (name, error)
        assert "l_a_seed" not in error and "postgres" not in error, (name, error)
    member = admin.execute(
        "SELECT count(*) FROM core.memberships WHERE org_id = %s AND user_id = %s",
        (tenants.org_ids["a"], tenants.user("b", "writer").id),
    ).fetchone()
    assert member == (0,), "evil's writer did not join acme"


def test_the_evaluation_role_reads_the_chain_tables_and_nothing_else(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    ((login, sup, createrole, createdb, bypass),) = admin.execute(
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
        "WHERE rolname = 'chainlake_evaluator'"
    ).fetchall()
    assert not any((login, sup, createrole, createdb, bypass))
    assert not admin.execute(
        "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
        "WHERE r.rolname = 'chainlake_evaluator'"
    ).fetchall(), "it inherits no other role's rights"
    with admin.transaction():
        admin.execute("SET LOCAL ROLE chainlake_evaluator")
        for table in ("chain.blocks", "chain.transactions", "chain.logs"):
            admin.execute(f"SELECT count(*) FROM {table}")
        refused = [
            "SELECT core.add_member('writer@b.example', 'a', 'admin')",
            "SELECT * FROM pii.address_labels",
            "SELECT * FROM alerts.rules",
            "SELECT * FROM alerts.firings",
            "SELECT * FROM alerts.channels",
            "SELECT * FROM catalog.datasets",
            "SELECT * FROM core.memberships",
            "SELECT * FROM runs.runs",
            "SELECT * FROM pgmq.q_alert_deliveries",
            "INSERT INTO chain.blocks (chain_id, number, hash, parent_hash, timestamp) "
            "VALUES (9, 9, '\\x09', '\\x00', now())",
            "DELETE FROM chain.blocks",
            "SELECT alerts.announce(gen_random_uuid(), 'fired')",
            "SELECT alerts.evaluate(1, 1, 1, 'provisional')",
        ]
        for sql in refused:
            with pytest.raises(errors.InsufficientPrivilege), admin.transaction():
                admin.execute(sql)
