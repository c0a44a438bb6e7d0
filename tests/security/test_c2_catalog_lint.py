"""The executed-columns class (SECURITY.md items 5 and 21) as catalog rules, checked over the
whole catalog so that a function or column added later cannot slip through:

- every SECURITY DEFINER function of ours pins its search_path and is owned by a platform owner
  role that is no superuser, cannot log in, create roles or databases, bypass RLS, or inherit
  another role's rights;
- every function of ours that runs dynamic SQL is listed here with what reaches its text, and
  those that run a tenant's SQL are owned by the evaluation role;
- every column that is executed is written by no user or platform role, and recomputed by its
  checking trigger on every insert and update, whatever columns change."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.integration.test_security_lint import TENANT_SCHEMAS, rows

OWNERS = {"chainlake_definer", "chainlake_evaluator", "chainlake_watchdog"}
# The roles an owner may itself be a member of: the watchdog signals and reads sessions.
OWNER_MEMBERSHIPS = {"chainlake_watchdog": {"pg_signal_backend", "pg_read_all_stats"}}
# What the watchdog owns, and nothing else.
WATCHDOG_FUNCTIONS = {"core.end_overdue_sessions()"}
WRITING_ROLES = (
    "chainlake_users",
    "chainlake_authenticated",
    "chainlake_api",
    "chainlake_runner",
    "chainlake_ingest",
    "chainlake_alerts",
    "chainlake_evaluator",
)

# What reaches the text of each function that runs dynamic SQL.
IDENTIFIERS = "identifiers only: a regclass or %I from the catalog or the platform's own code"
TENANT_SQL = "alerts.rules.predicate: a tenant's checked condition"
DYNAMIC_SQL = {
    "core.force_rls(regclass)": IDENTIFIERS,
    "core.admit_definer(regclass)": IDENTIFIERS,
    "core.settle_function_owners()": IDENTIFIERS,
    "core.apply_org_data_policies(regclass)": IDENTIFIERS,
    "core.apply_user_private_policies(regclass)": IDENTIFIERS,
    "core.apply_org_platform_policies(regclass)": IDENTIFIERS,
    "core.apply_org_readonly_policies(regclass)": IDENTIFIERS,
    "chain.apply_global_policies(regclass,boolean)": IDENTIFIERS,
    "core.create_user(text,text,text)": "a role name the function makes from a new uuid",
    "core.grant_people_writes(regclass)": IDENTIFIERS,
    "core.set_session_timeouts(name,integer,integer,integer)": "a login role %I, numbers",
    "core.apply_session_limits(uuid)": "a user's login role %I, numbers from core.quotas",
    "core.set_login_password(name,text,interval)": "a platform or user login role, %I and %L",
    # the condition, compiled as whoever saves it (SECURITY INVOKER): their own rights
    "alerts.check_condition(text,text,text[],boolean)": "alerts.rules.condition, as the caller",
    "alerts.probe_condition(text,regprocedure)": "identifiers only, as the caller",
    "alerts.match_rows(text,text,text[],bigint,bigint,bigint,text)": TENANT_SQL,
    "alerts.match_window(text,text,text[],integer,bigint,bigint,text)": TENANT_SQL,
    "alerts.match_simple(text,text[],bigint,bigint,bigint)": TENANT_SQL,
    "alerts.match_health(text,alerts.platform_health_row[])": TENANT_SQL,
}

# Columns whose value becomes SQL text, and the BEFORE trigger (and its function) that computes
# each from checked input on every insert and update.
EXECUTED_COLUMNS = {
    ("alerts.rules", "predicate"): ("rules_checked", "alerts.check_rule()"),
}
# Other BEFORE row triggers on those tables, which may run after the check (name order): each
# changes only the column it names.
HARMLESS_BEFORE_TRIGGERS = {"core.stamp_actor()"}


def test_every_security_definer_function_is_owned_by_a_role_without_powers(
    admin: psycopg.Connection[Any],
) -> None:
    found = rows(
        admin,
        "SELECT p.oid::regprocedure::text, r.rolname, r.rolsuper, r.rolcreaterole, "
        "r.rolcreatedb, r.rolbypassrls, r.rolcanlogin, r.rolreplication, p.proconfig, "
        "ARRAY(SELECT m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = r.oid), "
        "EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = r.oid) "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "JOIN pg_roles r ON r.oid = p.proowner "
        "WHERE p.prosecdef AND n.nspname = ANY(%s)",
        list(TENANT_SCHEMAS),
    )
    assert len(found) > 40
    for signature, owner, *powers, config, inherits, has_members in found:
        assert owner in OWNERS, f"{signature} is owned by {owner}"
        assert not any(powers), (signature, owner, powers)
        assert set(inherits) <= OWNER_MEMBERSHIPS.get(owner, set()), (
            f"{owner} (owner of {signature}) is a member of {inherits}"
        )
        assert (owner == "chainlake_watchdog") == (signature in WATCHDOG_FUNCTIONS), signature
        assert not has_members, f"a role may become {owner} (owner of {signature})"
        assert any(c.startswith("search_path=") for c in (config or [])), signature


def test_the_owner_roles_own_no_table_schema_or_type(admin: psycopg.Connection[Any]) -> None:
    for owner in OWNERS:
        owned = rows(
            admin,
            "SELECT 'relation', c.oid::regclass::text FROM pg_class c JOIN pg_roles r "
            "ON r.oid = c.relowner WHERE r.rolname = %s UNION ALL "
            "SELECT 'schema', n.nspname FROM pg_namespace n JOIN pg_roles r "
            "ON r.oid = n.nspowner WHERE r.rolname = %s UNION ALL "
            "SELECT 'type', t.oid::regtype::text FROM pg_type t JOIN pg_roles r "
            "ON r.oid = t.typowner WHERE r.rolname = %s",
            owner,
            owner,
            owner,
        )
        assert owned == [], f"{owner} owns {owned}"


def test_every_function_that_runs_dynamic_sql_is_listed_and_tenant_sql_runs_as_the_evaluator(
    admin: psycopg.Connection[Any],
) -> None:
    dynamic = {
        signature: (definer, owner)
        for signature, definer, owner in rows(
            admin,
            "SELECT p.oid::regprocedure::text, p.prosecdef, p.proowner::regrole::text "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = ANY(%s) AND p.prolang = "
            "(SELECT oid FROM pg_language WHERE lanname = 'plpgsql') "
            "AND p.prosrc ~* '\\mEXECUTE\\M(?!\\s+(FUNCTION|PROCEDURE|ON)\\M)'",
            list(TENANT_SCHEMAS),
        )
    }
    unlisted = sorted(set(dynamic) - set(DYNAMIC_SQL))
    assert not unlisted, f"dynamic SQL in {unlisted}: list what reaches its text in DYNAMIC_SQL"
    gone = sorted(set(DYNAMIC_SQL) - set(dynamic))
    assert not gone, f"listed but not found (renamed?): {gone}"
    for signature, (definer, owner) in dynamic.items():
        if DYNAMIC_SQL[signature] == TENANT_SQL:
            assert definer and owner == "chainlake_evaluator", (signature, owner)
        else:
            assert owner != "chainlake_evaluator", signature
        if "as the caller" in DYNAMIC_SQL[signature]:
            assert not definer, f"{signature} compiles a tenant's text: it must run as the caller"


def test_no_role_writes_an_executed_column_and_its_trigger_recomputes_it_on_every_change(
    admin: psycopg.Connection[Any],
) -> None:
    for (table, column), (trigger, function) in EXECUTED_COLUMNS.items():
        for role in WRITING_ROLES:
            for privilege in ("INSERT", "UPDATE"):
                granted = rows(
                    admin,
                    "SELECT has_column_privilege(%s, %s, %s, %s)",
                    role,
                    table,
                    column,
                    privilege,
                )[0][0]
                assert not granted, f"{role} may {privilege} {table}.{column}"
        found = rows(
            admin,
            "SELECT t.tgname, t.tgfoid::regprocedure::text, t.tgenabled, t.tgtype, "
            "cardinality(t.tgattr::int2[]) FROM pg_trigger t "
            "WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal ORDER BY t.tgname",
            table,
        )
        checking = [t for t in found if t[0] == trigger]
        assert checking, f"{table} has no trigger {trigger}"
        ((_, called, enabled, kind, columns),) = checking
        assert called == function, (trigger, called)
        assert enabled in ("O", "A"), f"{trigger} is disabled"
        row, before, insert, update = kind & 1, kind & 2, kind & 4, kind & 16
        assert row and before and insert and update, f"{trigger}: BEFORE INSERT OR UPDATE, ROW"
        assert columns == 0, f"{trigger} fires only on some columns: it must fire on every change"
        for name, other, _, other_kind, _ in found:
            if name > trigger and other_kind & 2 and other_kind & 1:
                assert other in HARMLESS_BEFORE_TRIGGERS, (
                    f"{name} ({other}) runs after {trigger} and could change {column}"
                )
