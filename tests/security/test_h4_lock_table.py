"""H4: no user can take a lock that stops everyone, nor hold one for long (SECURITY.md item 23).

Any reader could `LOCK TABLE alerts.rules, catalog.datasets, jobs.definitions IN ACCESS
EXCLUSIVE MODE` (Postgres allows every mode above ROW EXCLUSIVE to holders of table-level
UPDATE, DELETE or TRUNCATE), and no user session had a statement, lock or idle timeout. Now
people hold column-level UPDATE only and delete through stored functions; every user's login
role and the API's path carry timeouts; a watchdog ends user sessions past their bounds (a
psql user can turn their own timeouts off); and a migration waits for a lock only briefly, so
a reader's open transaction never queues everyone behind the migration."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chainlake.migrate import MigrationReport, migrate
from tests.runtime import running_runner, scalar, wait_for
from tests.tenants import ROLES, Tenants, User

BLOCKING_MODES = (
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)


@contextmanager
def transaction(tenants: Tenants, user: User, path: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside a transaction, as `user` on the login or the API path."""
    if path == "login":
        with tenants.login(user) as conn, conn.transaction():
            yield conn
    else:
        with tenants.api(user) as cur:
            yield cur.connection


def relations(admin: psycopg.Connection[Any]) -> list[str]:
    """Every table and view outside Postgres' own schemas."""
    return [
        r[0]
        for r in admin.execute(
            "SELECT c.oid::regclass::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1"
        )
    ]


@pytest.mark.parametrize("path", ("login", "api"))
def test_the_reviewers_lock_is_refused_to_every_role(tenants: Tenants, path: str) -> None:
    for role in ROLES:
        with (
            pytest.raises(errors.InsufficientPrivilege),
            transaction(tenants, tenants.user("b", role), path) as conn,
        ):
            conn.execute(
                "LOCK TABLE alerts.rules, catalog.datasets, jobs.definitions "
                "IN ACCESS EXCLUSIVE MODE"
            )


@pytest.mark.parametrize("path", ("login", "api"))
def test_no_blocking_lock_mode_on_any_relation_for_any_role(
    tenants: Tenants, admin: psycopg.Connection[Any], path: str
) -> None:
    taken = []
    for role in ROLES:
        with transaction(tenants, tenants.user("b", role), path) as conn:
            for relation in relations(admin):
                for mode in BLOCKING_MODES:
                    try:
                        with conn.transaction():  # a savepoint per attempt
                            conn.execute(f"LOCK TABLE {relation} IN {mode} MODE NOWAIT")
                        taken.append((role, relation, mode))
                    except errors.InsufficientPrivilege:
                        pass
    assert taken == []


def settings(conn: psycopg.Connection[Any]) -> dict[str, str]:
    return {
        name: str(scalar(conn, f"SHOW {name}"))
        for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    }


def test_every_user_session_and_the_api_path_carry_timeouts(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    with tenants.login(tenants.user("b", "reader")) as conn:
        assert settings(conn) == {
            "statement_timeout": "1min",
            "lock_timeout": "5s",
            "idle_in_transaction_session_timeout": "1min",
        }
    with tenants.api(tenants.user("b", "reader")) as cur:
        assert settings(cur.connection) == {
            "statement_timeout": "30s",
            "lock_timeout": "2s",
            "idle_in_transaction_session_timeout": "30s",
        }
    # the operator's quota change reaches the org's users' next sessions
    admin.execute(
        "UPDATE core.quotas SET sql_statement_timeout_ms = 1500, sql_lock_timeout_ms = 250 "
        "WHERE org_id = %s",
        (tenants.org_ids["b"],),
    )
    with tenants.login(tenants.user("b", "writer")) as conn:
        found = settings(conn)
    assert (found["statement_timeout"], found["lock_timeout"]) == ("1500ms", "250ms")


def hold_open_transaction(tenants: Tenants, user: User) -> psycopg.Connection[Any]:
    """A session of `user` that turned its own timeouts off and keeps a transaction open with
    a lock on alerts.rules."""
    conn = psycopg.connect(tenants.login_url(user))
    conn.execute("SET idle_in_transaction_session_timeout = 0")
    conn.execute("SET statement_timeout = 0")
    conn.execute("SELECT count(*) FROM alerts.rules")
    return conn


def test_the_watchdog_ends_a_user_transaction_held_past_its_bound(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    admin.execute(
        "UPDATE core.quotas SET sql_idle_in_transaction_ms = 200, "
        "sql_transaction_max_seconds = 1 WHERE org_id = %s",
        (tenants.org_ids["b"],),
    )
    stuck = hold_open_transaction(tenants, tenants.user("b", "reader"))
    fine = hold_open_transaction(tenants, tenants.user("a", "reader"))  # within a's bounds
    pids = {"stuck": stuck.info.backend_pid, "fine": fine.info.backend_pid}
    alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
    try:
        with running_runner(tenants, tmp_path):  # its schedule tick runs the watchdog
            wait_for(lambda: scalar(admin, alive, pids["stuck"]) == 0, timeout=30)
        assert scalar(admin, alive, pids["fine"]) == 1
        with pytest.raises(psycopg.OperationalError):
            stuck.execute("SELECT 1")
    finally:
        stuck.close()
        fine.close()


def test_a_migration_never_queues_everyone_behind_a_readers_lock(
    tenants: Tenants, admin: psycopg.Connection[Any], admin_url: str
) -> None:
    """A reader of org b keeps a transaction open on alerts.rules; a migration must rewrite
    that table's policies. Org a's reader still reads alerts.rules (the migration waits for its
    lock only briefly, then tries again), and the migration finishes once b lets go."""
    holder = hold_open_transaction(tenants, tenants.user("b", "reader"))
    admin.execute("DELETE FROM chainlake_meta.applied_files WHERE path = 'rls_policies/alerts.sql'")
    outcome: list[MigrationReport | BaseException] = []

    def migrating() -> None:
        try:
            outcome.append(migrate(admin_url))
        except BaseException as exc:  # reported below
            outcome.append(exc)

    thread = threading.Thread(target=migrating, daemon=True)
    thread.start()
    try:
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE NOT granted "
            "AND relation = 'alerts.rules'::regclass"
        )
        wait_for(lambda: scalar(admin, waiting) > 0, timeout=30)
        with tenants.login(tenants.user("a", "reader")) as conn:
            conn.execute("SET statement_timeout = '20s'")
            assert scalar(conn, "SELECT count(*) FROM alerts.rules") is not None
    finally:
        holder.close()
        thread.join(timeout=120)
    (report,) = outcome
    assert isinstance(report, MigrationReport), report
    assert report.files == ["rls_policies/alerts.sql"]


def test_deletes_go_through_functions_that_keep_the_delete_policys_rule(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """With no DELETE privilege, each delete is a function; each allows exactly whom the
    table's DELETE policy allows, and refuses everyone else the same way as a missing row."""
    cases = (  # (the call, who is refused, who may)
        ("SELECT alerts.delete_rule('a', 'rule_a_seed')", ("a.reader", "b.writer"), "a.writer"),
        ("SELECT jobs.delete_secret('a', 's_a_seed')", ("a.reader", "b.admin"), "a.writer"),
        ("SELECT catalog.delete_query('a', 'q_a_seed')", ("a.admin", "b.writer"), "a.writer"),
        (
            "SELECT catalog.revoke_read('dataset', 'a', 'ds_a_seed', 'spare')",
            ("a.writer", "b.admin"),
            "a.admin",
        ),
        ("SELECT core.revoke_org_read('a', 'c')", ("a.writer", "c.admin"), "a.admin"),
        (
            "SELECT core.remove_member('reader@a.example', 'a')",
            ("a.writer", "b.admin"),
            "a.admin",
        ),
    )
    for call, refused, allowed in cases:
        for who in refused:
            with (
                pytest.raises((errors.UndefinedObject, errors.InsufficientPrivilege)),
                tenants.login(tenants.users[who]) as conn,
            ):
                conn.execute(call)
        with tenants.login(tenants.users[allowed]) as conn:
            conn.execute(call)
    assert scalar(admin, "SELECT count(*) FROM alerts.rules WHERE name = 'rule_a_seed'") == 0
    assert (
        scalar(
            admin,
            "SELECT count(*) FROM core.org_grants WHERE org_id = %s AND grantee_org_id = %s",
            tenants.org_ids["a"],
            tenants.org_ids["c"],
        )
        == 0
    )
    assert (
        scalar(
            admin,
            "SELECT count(*) FROM core.memberships WHERE org_id = %s AND user_id = %s",
            tenants.org_ids["a"],
            tenants.user("a", "reader").id,
        )
        == 0
    )
