"""The query engine as a caller, through the API's path (chainlake_api + JWT claims): it sees the
chain views and exactly the datasets RLS lets it read; hostile SQL is refused with a clear error
and the session still answers the next valid query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chainlake.query import (
    QueryFailed,
    QueryRefused,
    Session,
    SessionPool,
    caller_session,
    open_caller_session,
)
from chainlake.storage import LocalStore
from tests.tenants import Tenants, User


def add_dataset(
    admin: psycopg.Connection[Any], org_id: str, name: str, path: Path, values: list[int]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"n": values}), path)
    (ds,) = admin.execute(
        "INSERT INTO catalog.datasets (org_id, name) VALUES (%s, %s) RETURNING id", (org_id, name)
    ).fetchone() or (None,)
    admin.execute(
        "INSERT INTO catalog.asset_versions (org_id, dataset_id, version, run_id, content_hash, "
        "uris, row_count) VALUES (%s, %s, 1, gen_random_uuid(), 'h', %s, %s)",
        (org_id, ds, [path.as_uri()], len(values)),
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def data(tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path) -> dict[str, Path]:
    paths = {
        org: tmp_path / "store" / tenants.org_ids[org] / "_runs" / "r" / "x.parquet"
        for org in ("a", "b")
    }
    add_dataset(admin, tenants.org_ids["a"], "prices", paths["a"], [1, 2, 3])
    add_dataset(admin, tenants.org_ids["b"], "secrets", paths["b"], [42])
    admin.execute("SELECT chain.register_chain(1, 'one', 0, 64, 1000)")  # the seeded block's
    return paths


@pytest.fixture
def session_of(tenants: Tenants, store: LocalStore) -> Iterator[Any]:
    opened: list[Any] = []

    def make(user: User) -> Session:
        conn = psycopg.connect(tenants.cluster.url(tenants.database, "chainlake_api"))
        opened.append(conn)
        context = caller_session(conn, {"sub": user.id}, store)
        opened.append(context)
        return context.__enter__()

    yield make
    for item in reversed(opened):
        if isinstance(item, psycopg.Connection):
            item.close()
        else:
            item.__exit__(None, None, None)


def scalar(session: Session, sql: str) -> Any:
    row = session.execute(sql).fetchone()
    return None if row is None else row[0]


def test_each_org_sees_its_datasets_and_granted_ones_only(
    tenants: Tenants, data: dict[str, Path], session_of: Any
) -> None:
    a = session_of(tenants.user("a", "reader"))
    assert scalar(a, 'SELECT sum(n) FROM "a"."prices"') == 6
    assert scalar(a, "SELECT count(*) FROM blocks") == 1  # the seeded chain block
    with pytest.raises(QueryFailed, match="does not exist"):
        a.execute('SELECT * FROM "b"."secrets"')
    c = session_of(tenants.user("c", "reader"))  # a grants read to c
    assert scalar(c, 'SELECT sum(n) FROM "a"."prices"') == 6
    b = session_of(tenants.user("b", "reader"))
    assert '"a"."prices"' not in b.views and '"b"."secrets"' in b.views


HOSTILE = [
    ("SELECT * FROM read_csv('/etc/passwd')", QueryRefused, "read_csv"),
    ("SELECT * FROM '/etc/passwd'", QueryFailed, "does not exist"),
    ("ATTACH 'x.db' AS x", QueryRefused, "only SELECT"),
    ("INSTALL httpfs", QueryRefused, "only SELECT"),
    ("LOAD postgres_scanner", QueryRefused, "only SELECT"),
    ("COPY (SELECT 1) TO '/tmp/out.csv'", QueryRefused, "only SELECT"),
    ("SET enable_external_access = true", QueryRefused, "only SELECT"),
    ("SELECT * FROM postgres_query('pg', 'RESET ROLE')", QueryRefused, "postgres_query"),
    ("SELECT postgres_execute('pg', 'select 1')", QueryRefused, "postgres_execute"),
    ("SELECT * FROM duckdb_secrets()", QueryRefused, "duckdb_secrets"),
    ("SELECT current_setting('allowed_directories')", QueryRefused, "current_setting"),
    ("SELECT 1; SELECT 2", QueryRefused, "one statement"),
    ("SELEC 1", QueryFailed, "does not parse"),
]


@pytest.mark.parametrize(("sql", "error", "message"), HOSTILE)
def test_hostile_sql_is_refused_and_the_session_still_answers(
    tenants: Tenants, data: dict[str, Path], session_of: Any, sql: str, error: type, message: str
) -> None:
    session = session_of(tenants.user("a", "admin"))
    with pytest.raises(error, match=message):
        session.execute(sql)
    assert scalar(session, 'SELECT max(n) FROM "a"."prices"') == 3


def test_another_orgs_parquet_path_is_refused(
    tenants: Tenants, data: dict[str, Path], session_of: Any
) -> None:
    session = session_of(tenants.user("a", "admin"))
    with pytest.raises(QueryRefused, match="not allowed"):
        session.execute(f"SELECT * FROM '{data['b']}'")
    assert scalar(session, "SELECT 40 + 2") == 42


def test_a_query_past_its_time_limit_stops_with_a_clear_error(
    tenants: Tenants, data: dict[str, Path], session_of: Any
) -> None:
    session = session_of(tenants.user("a", "reader"))
    session.limits.timeout_s = 0.5
    with pytest.raises(QueryFailed, match=r"time limit of 0\.5 s"):
        session.execute("SELECT count(*) FROM range(10000000000) a")
    session.limits.timeout_s = 30
    assert scalar(session, "SELECT 1") == 1


def test_the_configuration_is_locked(
    tenants: Tenants, data: dict[str, Path], session_of: Any
) -> None:
    session = session_of(tenants.user("a", "reader"))
    with pytest.raises(duckdb_error()):
        session.con.execute("SET enable_external_access = true")  # even bypassing the check


def duckdb_error() -> type[Exception]:
    import duckdb

    return duckdb.Error


def test_a_pooled_session_is_reused_only_while_nothing_it_was_built_from_changed(
    tenants: Tenants, data: dict[str, Path], admin: psycopg.Connection[Any], store: LocalStore
) -> None:
    pool = SessionPool()
    ann, cy = tenants.user("a", "reader"), tenants.user("c", "reader")
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    sql = 'SELECT count(*) FROM "a"."prices"'

    def ask(user: User, text: str = sql) -> tuple[Session, Any]:
        with psycopg.connect(url) as conn:
            session = open_caller_session(conn, {"sub": user.id}, store, sql=text, pool=pool)
        try:
            row = session.execute(text).fetchone()
            return session, None if row is None else row[0]
        finally:
            session.close()

    first, n = ask(ann)
    again, n_again = ask(ann)
    assert again is first and n == n_again == 3, "unchanged: the same session answers"
    assert ask(cy)[0] is not first, "another identity never gets it"

    more = data["a"].with_name("more.parquet")
    add_dataset(admin, tenants.org_ids["a"], "more", more, [5, 6])
    total = ask(ann, 'SELECT count(*) FROM "a"."more"')[1]
    assert total == 2, "a new dataset is seen on the next request"
    assert ask(ann)[0] is not first, "the catalog changed: a new session"

    admin.execute("SELECT core.revoke_org_read('a', 'c')")
    with psycopg.connect(url) as conn, pytest.raises(QueryFailed, match="prices"):
        session = open_caller_session(conn, {"sub": cy.id}, store, sql=sql, pool=pool)
        try:
            session.execute(sql)
        finally:
            session.close()

    blocks = "SELECT count(*) FROM blocks"
    before_block = ask(ann, blocks)[1]
    admin.execute(
        "INSERT INTO chain.blocks (chain_id, number, hash, parent_hash, timestamp) "
        "VALUES (1, 2, '\\x02', '\\x01', now())"
    )
    admin.execute(
        "INSERT INTO chain.events (chain_id, kind, from_block, to_block) "
        "VALUES (1, 'ingested', 2, 2)"
    )
    assert ask(ann, blocks)[1] == before_block + 1, "a new block is seen on the next request"
    pool.close()
