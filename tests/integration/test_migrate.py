"""`chainlake migrate`: everything from an empty database, nothing the second time, only what
changed after an edit, and harmless when two migrators race."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from chainlake.local.schema import dump
from chainlake.migrate import migrate, schema_root, stored_logic_files
from tests.harness import TestCluster


def schema_fingerprint(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT (SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT n.nspname || '.' || "
        "        c.relname || c.relkind::text AS x FROM pg_class c JOIN pg_namespace n "
        "        ON n.oid = c.relnamespace WHERE n.nspname NOT IN "
        "        ('pg_catalog', 'information_schema', 'pg_toast')) r), "
        "(SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT tablename || policyname || "
        "        coalesce(qual, '') || coalesce(with_check, '') AS x FROM pg_policies) p), "
        "(SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (SELECT p.oid::regprocedure::text || "
        "        p.prosrc AS x FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) f)"
    ).fetchone()
    assert row is not None
    return tuple(row)


def all_revisions() -> list[str]:
    """Every revision file's number, in order (each file is named NNNN_what.py)."""
    folder = schema_root() / "migrations" / "versions"
    return sorted(path.name.split("_")[0] for path in folder.glob("*.py"))


def fresh_empty_database(cluster: TestCluster, name: str) -> str:
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)


def test_migrate_from_empty_then_again_changes_nothing(cluster: TestCluster) -> None:
    url = fresh_empty_database(cluster, "migrate_twice")
    first = migrate(url)
    assert first.revisions == all_revisions()
    assert first.pgmq
    assert first.files == [key for key, _ in stored_logic_files()]
    with psycopg.connect(url) as conn:
        before = schema_fingerprint(conn)
    second = migrate(url)
    assert not second.changed
    assert second.summary() == "nothing to apply: the schema is up to date"
    with psycopg.connect(url) as conn:
        assert schema_fingerprint(conn) == before


def test_a_changed_file_is_reapplied_alone(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE chainlake_meta.applied_files SET checksum = 'stale' "
            "WHERE path = 'rls_policies/catalog.sql'"
        )
        before = schema_fingerprint(conn)
    report = migrate(admin_url)
    assert report.files == ["rls_policies/catalog.sql"] and not report.revisions
    with psycopg.connect(admin_url) as conn:
        assert schema_fingerprint(conn) == before


def test_a_database_migrated_before_sql_was_grouped_by_schema_applies_each_file_once(
    admin_url: str,
) -> None:
    """The ledger of a database migrated when sql/ was flat names `sql/NN_x.sql`: each file, now
    `sql/<schema>/NN_x.sql`, is applied once more in the same order, and nothing changes."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE chainlake_meta.applied_files SET path = 'sql/' || split_part(path, '/', 3) "
            "WHERE path LIKE 'sql/%/%'"
        )
        before = schema_fingerprint(conn)
    dumped = dump(admin_url)
    report = migrate(admin_url)
    assert report.files == [key for key, _ in stored_logic_files() if key.startswith("sql/")]
    assert dump(admin_url) == dumped
    with psycopg.connect(admin_url) as conn:
        assert schema_fingerprint(conn) == before
    assert not migrate(admin_url).changed


def test_two_migrators_racing_is_harmless(cluster: TestCluster) -> None:
    url = fresh_empty_database(cluster, "migrate_race")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert not migrate(url).changed
