"""A review finding after issue 14's fixes (critical): with `search_path = ''`, Postgres looks
up types and tables in the session's temp schema first. Any login role could create a
`pg_temp.uuid` (or `text`, `jsonb`, ...) domain whose CHECK calls its own function; a SECURITY
DEFINER function assigning a uuid then ran that code with its owner's rights (every tenant row;
PII read unaudited; evil's reader made acme's admin). Every function now pins
`pg_catalog, pg_temp`: the caller's temp schema is searched last.

And the condition check of alert rules found its compiled function by name alone, so a decoy
overload in the writer's temp schema was checked in place of the real condition (high)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.tenants import Tenants

SHADOWED_TYPES = ("uuid", "text", "jsonb", "int4", "int8", "bool", "timestamptz", "name")
HIJACK = """
CREATE FUNCTION pg_temp.hijack(v anyelement) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    IF current_user <> session_user THEN
        RAISE EXCEPTION 'HIJACKED: ran as %', current_user;
    END IF;
    RETURN true;
END $f$;
"""


def shadow_builtin_types(conn: psycopg.Connection[Any]) -> None:
    conn.execute(HIJACK)
    for name in SHADOWED_TYPES:
        conn.execute(
            f"CREATE DOMAIN pg_temp.{name} AS pg_catalog.{name} CHECK (pg_temp.hijack(VALUE))"
        )


def callable_functions(conn: psycopg.Connection[Any]) -> list[tuple[str, int]]:
    """Every function of ours the caller may execute, with its number of arguments."""
    return [
        (str(r[0]), int(r[1]))
        for r in conn.execute(
            "SELECT p.oid::regprocedure, p.pronargs FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname IN ('core', 'catalog', 'jobs', 'runs', 'chain', 'alerts', 'audit', "
            "'pii') AND p.prokind = 'f' AND has_function_privilege(p.oid, 'EXECUTE') "
            "AND p.prorettype <> 'trigger'::regtype ORDER BY 1"
        ).fetchall()
    ]


def test_a_shadowing_domain_never_runs_inside_our_functions(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    memberships = admin.execute("SELECT count(*) FROM core.memberships").fetchone()
    for role in ("reader", "writer"):
        with tenants.login(tenants.user("b", role)) as conn:
            shadow_builtin_types(conn)
            # the reviewer's path: every RLS policy calls core.caller_user_id()
            assert conn.execute("SELECT org FROM core.whoami()").fetchall() == [("b",)]
            assert conn.execute("SELECT count(*) FROM catalog.datasets").fetchone() is not None
            called = 0
            for signature, args in callable_functions(conn):
                name = signature.split("(")[0]
                call = f"SELECT {name}({', '.join(['NULL'] * args)})"
                try:
                    with conn.transaction(force_rollback=True):
                        conn.execute(call)
                except psycopg.Error as exc:
                    assert "HIJACKED" not in str(exc), f"{signature}: {exc}"
                called += 1
            assert called > 30
    assert admin.execute("SELECT count(*) FROM core.memberships").fetchone() == memberships


def test_the_exploit_as_the_review_ran_it(tenants: Tenants, admin: psycopg.Connection[Any]) -> None:
    reader = tenants.user("b", "reader")
    with tenants.login(reader) as conn:
        conn.execute(
            "CREATE FUNCTION pg_temp.pwn(v pg_catalog.uuid) RETURNS boolean LANGUAGE plpgsql "
            "AS $f$ BEGIN IF current_user <> session_user THEN UPDATE core.memberships m "
            "SET role = 'admin' FROM core.users u WHERE u.id = m.user_id "
            "AND u.db_role = session_user; END IF; RETURN true; END $f$"
        )
        conn.execute("CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (pg_temp.pwn(VALUE))")
        assert conn.execute("SELECT role::text FROM core.whoami()").fetchall() == [("reader",)]
    roles = admin.execute(
        "SELECT m.role::text FROM core.memberships m JOIN core.users u ON u.id = m.user_id "
        "WHERE u.email = %s",
        (reader.email,),
    ).fetchall()
    assert roles == [("reader",)]


def test_a_decoy_overload_does_not_stand_in_for_the_condition_checked(tenants: Tenants) -> None:
    with tenants.login(tenants.user("b", "writer")) as conn:
        for decoy in ("chainlake_condition", "chainlake_condition_0"):
            conn.execute(
                f"CREATE FUNCTION pg_temp.{decoy}(t integer) RETURNS boolean LANGUAGE sql "
                "RETURN true"
            )
        with pytest.raises(errors.InvalidParameterValue, match="may not call set_config"):
            conn.execute(
                "INSERT INTO alerts.rules (org_id, name, dataset, condition) VALUES "
                "(%s, 'dos', 'chain.blocks', "
                "'set_config(''statement_timeout'', ''1ms'', false) IS NOT NULL')",
                (tenants.org_ids["b"],),
            )
        assert conn.execute("SELECT count(*) FROM alerts.rules WHERE name = 'dos'").fetchone() == (
            0,
        )
