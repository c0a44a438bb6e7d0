"""Catalog lint: every tenant table, view, function and privilege checked against the rules of
SECURITY.md, so a table or function added later cannot slip through. Items 1, 2, 4, 5, 6, 7,
14, 16 and 23."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.tenants import NON_ORG_TABLES, SEEDS

TENANT_SCHEMAS = ("core", "catalog", "jobs", "runs", "chain", "alerts", "audit", "pii")
PLATFORM_ROLES = (
    "chainlake_api",
    "chainlake_runner",
    "chainlake_ingest",
    "chainlake_authenticated",
    "chainlake_users",
)
PEOPLE_ROLES = ("chainlake_users", "chainlake_authenticated", "chainlake_api")


def rows(conn: psycopg.Connection[Any], sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params).fetchall()


def tables(conn: psycopg.Connection[Any]) -> list[tuple[str, bool, bool, bool]]:
    """(schema.table, rls enabled, rls forced, has org_id) for every table in tenant schemas."""
    return [
        (name, enabled, forced, has_org)
        for name, enabled, forced, has_org in rows(
            conn,
            "SELECT n.nspname || '.' || c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
            "        AND a.attname = 'org_id' AND NOT a.attisdropped) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') ORDER BY 1",
            list(TENANT_SCHEMAS),
        )
    ]


def test_every_tenant_table_has_forced_rls_and_an_org_id(admin: psycopg.Connection[Any]) -> None:
    found = tables(admin)
    assert len(found) >= 12
    for name, enabled, forced, has_org in found:
        assert enabled and forced, f"{name}: RLS must be enabled and forced"
        assert has_org or name in NON_ORG_TABLES, f"{name}: a tenant table needs org_id"


def test_every_tenant_table_has_a_seed_and_so_an_isolation_test(
    admin: psycopg.Connection[Any],
) -> None:
    for name, _, _, has_org in tables(admin):
        if has_org or name == "core.orgs":
            assert name in SEEDS, f"{name}: add it to tests/tenants.py SEEDS"


def test_every_tenant_table_has_a_select_policy(admin: psycopg.Connection[Any]) -> None:
    for name, *_ in tables(admin):
        schema, table = name.split(".")
        assert rows(
            admin,
            "SELECT 1 FROM pg_policies WHERE schemaname = %s AND tablename = %s "
            "AND cmd IN ('SELECT', 'ALL')",
            schema,
            table,
        ), f"{name} has no SELECT policy"


def test_every_privilege_people_hold_is_covered_by_a_policy(
    admin: psycopg.Connection[Any],
) -> None:
    """RLS with no policy for a command denies silently; a grant with no policy is a mistake."""
    for name, *_ in tables(admin):
        for role in (*PEOPLE_ROLES, "chainlake_runner"):
            for command in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                check = "has_table_privilege" if command == "DELETE" else "has_any_column_privilege"
                granted = rows(  # a privilege on one column counts
                    admin, f"SELECT {check}(%s, %s, %s)", role, name, command
                )[0][0]
                if not granted:
                    continue
                schema, table = name.split(".")
                policies = rows(
                    admin,
                    "SELECT policyname FROM pg_policies WHERE schemaname = %s AND tablename = %s "
                    "AND cmd IN (%s, 'ALL') AND (roles && ARRAY[%s, 'chainlake_users', 'public']"
                    "::name[])",
                    schema,
                    table,
                    command,
                    role,
                )
                assert policies, f"{role} may {command} {name} but no policy covers it"


def test_no_policy_on_an_org_table_is_unconditionally_true(admin: psycopg.Connection[Any]) -> None:
    """Except the one for chainlake_definer alone, the owner of the platform's SECURITY DEFINER
    functions, which nobody can become (tests/security/test_c2_catalog_lint.py)."""
    for schema, table, policy, qual, check in rows(
        admin,
        "SELECT schemaname, tablename, policyname, qual, with_check FROM pg_policies "
        "WHERE schemaname = ANY(%s) AND roles <> '{chainlake_definer}'::name[]",
        list(TENANT_SCHEMAS),
    ):
        name = f"{schema}.{table}"
        if NON_ORG_TABLES.get(name) == "global chain data":
            continue
        for expr in (qual, check):
            assert expr is None or expr.strip("() ") != "true", f"{name}: {policy} is `true`"


def test_platform_roles_are_not_superusers_bypass_rls_or_owners(
    admin: psycopg.Connection[Any],
) -> None:
    for role in PLATFORM_ROLES:
        ((sup, bypass),) = rows(
            admin, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", role
        )
        assert not sup and not bypass, role
        owned = rows(
            admin,
            "SELECT c.relname FROM pg_class c JOIN pg_roles r "
            "ON r.oid = c.relowner WHERE r.rolname = %s",
            role,
        )
        assert owned == [], f"{role} owns {owned}"
        owned_fns = rows(
            admin,
            "SELECT p.proname FROM pg_proc p JOIN pg_roles r "
            "ON r.oid = p.proowner WHERE r.rolname = %s",
            role,
        )
        assert owned_fns == [], f"{role} owns {owned_fns}"


def test_user_login_roles_have_no_other_role_than_chainlake_users(
    admin: psycopg.Connection[Any], tenants: Any
) -> None:
    memberships = rows(
        admin,
        "SELECT u.email, g.rolname FROM core.users u JOIN pg_roles r ON r.rolname = u.db_role "
        "JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid",
    )
    assert memberships
    assert {g for _, g in memberships} == {"chainlake_users"}
    (inherit,) = rows(admin, "SELECT rolinherit FROM pg_roles WHERE rolname = 'chainlake_users'")[0]
    assert not inherit, "chainlake_users must not inherit other roles' privileges"


def test_views_are_security_invoker_and_no_materialized_view_is_reachable(
    admin: psycopg.Connection[Any],
) -> None:
    for name, kind, options in rows(
        admin,
        "SELECT n.nspname || '.' || c.relname, c.relkind, c.reloptions FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('v', 'm')",
        list(TENANT_SCHEMAS),
    ):
        assert kind == "v", f"{name}: materialized views have no RLS"
        assert "security_invoker=true" in (options or []), f"{name}: needs security_invoker"


def test_security_definer_functions_pin_search_path_and_are_not_public(
    admin: psycopg.Connection[Any],
) -> None:
    found = rows(
        admin,
        "SELECT p.oid::regprocedure::text, p.proconfig, "
        "has_function_privilege('public', p.oid, 'EXECUTE') "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE p.prosecdef AND n.nspname = ANY(%s)",
        list(TENANT_SCHEMAS),
    )
    assert found, "expected the identity functions to be SECURITY DEFINER"
    for signature, config, public in found:
        assert any(c.startswith("search_path=") for c in (config or [])), signature
        assert not public, f"{signature} is executable by PUBLIC"


PINNED_PATH = "search_path=pg_catalog, pg_temp"


def test_every_function_of_ours_searches_the_callers_temp_schema_last(
    admin: psycopg.Connection[Any],
) -> None:
    """With an empty search_path Postgres looks up types and tables in the session's temp
    schema first: a caller's `pg_temp.uuid` domain would run the caller's code inside any
    function that names `uuid`, with that function's owner's rights. Every function and
    procedure of ours pins `pg_catalog, pg_temp` (tests/security/test_temp_shadowing.py)."""
    found = rows(
        admin,
        "SELECT p.oid::regprocedure::text, p.prosecdef, p.proconfig FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = ANY(%s) AND p.prokind IN ('f', 'p')",
        list(TENANT_SCHEMAS),
    )
    assert len(found) > 100
    for signature, definer, config in found:
        paths = [c for c in config or [] if c.startswith("search_path=")]
        # a function without a setting runs with its caller's path: a definer function's
        # pinned one, or a person's own (then with their own rights)
        assert paths == [PINNED_PATH] or (not paths and not definer), (signature, paths)


def test_no_function_of_ours_is_executable_by_public(admin: psycopg.Connection[Any]) -> None:
    public = rows(
        admin,
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = ANY(%s) AND has_function_privilege('public', p.oid, 'EXECUTE')",
        list(TENANT_SCHEMAS),
    )
    assert public == []


def test_no_leakproof_functions_of_ours(admin: psycopg.Connection[Any]) -> None:
    assert (
        rows(
            admin,
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = "
            "p.pronamespace WHERE p.proleakproof AND n.nspname = ANY(%s)",
            list(TENANT_SCHEMAS),
        )
        == []
    )


def test_unique_indexes_on_writable_org_tables_lead_with_org_id(
    admin: psycopg.Connection[Any],
) -> None:
    """A duplicate-key error on a key without org_id would reveal another org's row."""
    for table, index, first_column in rows(
        admin,
        "SELECT n.nspname || '.' || c.relname, i.relname, a.attname FROM pg_index x "
        "JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0] "
        "WHERE x.indisunique AND n.nspname = ANY(%s)",
        list(TENANT_SCHEMAS),
    ):
        if table in NON_ORG_TABLES:
            continue
        writable = any(
            rows(admin, "SELECT has_table_privilege(%s, %s, %s)", role, table, cmd)[0][0]
            for role in PEOPLE_ROLES
            for cmd in ("INSERT", "UPDATE")
        )
        if writable:
            assert first_column == "org_id", f"{table}.{index} must lead with org_id"


def test_no_truncate_references_or_trigger_for_people_or_platform(
    admin: psycopg.Connection[Any],
) -> None:
    for name, *_ in tables(admin):
        for role in PLATFORM_ROLES:
            for privilege in ("TRUNCATE", "REFERENCES", "TRIGGER"):
                assert not rows(
                    admin, "SELECT has_table_privilege(%s, %s, %s)", role, name, privilege
                )[0][0], (role, name, privilege)


def test_people_have_no_access_to_the_queue_schema(admin: psycopg.Connection[Any]) -> None:
    for role in PEOPLE_ROLES:
        assert not rows(admin, "SELECT has_schema_privilege(%s, 'pgmq', 'USAGE')", role)[0][0]
    assert rows(admin, "SELECT has_schema_privilege('chainlake_runner', 'pgmq', 'USAGE')")[0][0]


def test_column_statistics_are_hidden_from_people(admin: psycopg.Connection[Any]) -> None:
    for view in ("pg_stats", "pg_stats_ext", "pg_stats_ext_exprs"):
        assert not rows(
            admin,
            "SELECT has_table_privilege('chainlake_users', %s, 'SELECT')",
            f"pg_catalog.{view}",
        )[0][0], view


def test_no_user_or_api_role_holds_a_privilege_that_allows_a_blocking_lock(
    admin: psycopg.Connection[Any],
) -> None:
    """LOCK in any mode above ROW EXCLUSIVE needs table-level UPDATE, DELETE or TRUNCATE (a
    column's UPDATE does not count): people update columns and delete through functions."""
    found = rows(
        admin,
        "SELECT r.role, c.oid::regclass::text, p.privilege FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN unnest(%s::text[]) AS r (role) "
        "CROSS JOIN unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) AS p (privilege) "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
        "AND has_table_privilege(r.role, c.oid, p.privilege)",
        list(PEOPLE_ROLES),
    )
    assert found == []


def test_no_role_but_the_operator_may_take_an_advisory_lock(admin: psycopg.Connection[Any]) -> None:
    """Any key a tenant can compute, or read in pg_locks, is useless to it: advisory locks are
    the migrator's only; stored functions lock rows of core.row_locks instead."""
    functions = [
        r[0]
        for r in rows(
            admin,
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname LIKE %s",
            "pg\\_%advisory%",
        )
    ]
    assert len(functions) >= 20, functions
    for role in (*PLATFORM_ROLES, "chainlake_alerts", "public"):
        for function in functions:
            assert not rows(
                admin, "SELECT has_function_privilege(%s, %s, 'EXECUTE')", role, function
            )[0][0], (role, function)
    uses = rows(
        admin,
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = ANY(%s) AND p.prosrc ~ 'advisory'",
        list(TENANT_SCHEMAS),
    )
    assert uses == [], "a stored function of ours takes an advisory lock"


def test_every_users_login_role_and_the_api_have_a_connection_limit_and_timeouts(
    admin: psycopg.Connection[Any], tenants: Any
) -> None:
    found = rows(
        admin,
        "SELECT r.rolname, r.rolconnlimit, r.rolconfig FROM pg_roles r "
        "WHERE r.rolname IN (SELECT db_role FROM core.users) OR r.rolname = 'chainlake_api'",
    )
    assert len(found) > 9
    for role, limit, config in found:
        assert role == "chainlake_api" or limit > 0, f"{role} has no connection limit"
        names = {c.split("=")[0] for c in config or []}
        assert {
            "statement_timeout",
            "lock_timeout",
            "idle_in_transaction_session_timeout",
        } <= names, f"{role} lacks timeouts: {config}"
