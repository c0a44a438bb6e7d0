"""The query service's engine: one SQL over hot Postgres and cold Parquet, as the caller.

Per request, a fresh in-memory DuckDB gets, read in one REPEATABLE READ snapshot of Postgres
under the caller's identity (so RLS decides everything):

- the unified chain views `blocks`, `transactions`, `logs` (cold chunks up to each chain's
  watermark, hot rows above it, pulled in as Arrow);
- one view per dataset the caller may read, `"<org>"."<dataset>"`, over the files of its
  current content.

DuckDB never connects to Postgres (the postgres extension is not even loaded), so user SQL
cannot reach Postgres as anyone. Then the session is locked down before user SQL runs: reads only
under the registered files' directories, no external access, no configuration changes; memory
and thread limits; a time limit enforced by interrupting the query. User SQL must be one SELECT
and may not call file-reading, secret or settings functions: each refusal names what and why.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
import psycopg

from chainlake.chain.unified import create_chain_views, read_snapshot_in
from chainlake.db import claims_transaction
from chainlake.duck import connect as duck_connect
from chainlake.errors import ChainlakeError, InvalidInput
from chainlake.storage import LocalStore, ObjectStore

# Functions user SQL may not call: they read files or URLs directly (datasets are views
# already), reveal secrets or settings, or reach other databases.
FORBIDDEN_FUNCTIONS = {
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json",
    "read_json_auto", "read_json_objects", "read_ndjson", "read_ndjson_auto",
    "read_ndjson_objects", "read_blob", "read_text", "glob", "parquet_metadata",
    "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "sniff_csv",
    "duckdb_secrets", "which_secret", "duckdb_settings", "current_setting", "getenv",
    "postgres_query", "postgres_execute", "postgres_scan", "postgres_scan_pushdown",
    "postgres_attach", "sqlite_scan", "mysql_query", "iceberg_scan", "delta_scan",
    "duckdb_extensions", "load_extension", "install_extension", "query", "query_table",
}  # fmt: skip
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY = "1GB"


class QueryRefused(InvalidInput):
    """The SQL is not allowed here; the message says what and what to do instead."""


class QueryFailed(InvalidInput):
    """DuckDB refused or failed the SQL (syntax, unknown column, a limit)."""


@dataclass
class Limits:
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory: str = DEFAULT_MEMORY
    threads: int = 2


@dataclass
class Session:
    con: duckdb.DuckDBPyConnection
    views: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)

    def check(self, sql: str) -> None:
        """Exactly one SELECT, calling nothing forbidden."""
        try:
            statements = self.con.extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryFailed(f"the SQL does not parse: {_first_line(exc)}") from exc
        if len(statements) != 1:
            raise QueryRefused(f"send one statement at a time ({len(statements)} given)")
        if statements[0].type != duckdb.StatementType.SELECT:
            raise QueryRefused(
                "only SELECT (and WITH ... SELECT) queries run here, "
                f"not {statements[0].type.name}",
                "ATTACH, INSTALL, LOAD, COPY, SET and the like are not available here",
            )
        row = self.con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
        tree = json.loads(row[0]) if row else {}
        if tree.get("error"):
            raise QueryFailed(f"the SQL does not parse: {tree.get('error_message', '')}")
        called = set(_function_names(tree))
        refused = sorted(called & FORBIDDEN_FUNCTIONS)
        if refused:
            raise QueryRefused(
                f"{', '.join(refused)} cannot be called in the query service",
                "query the views instead: blocks, transactions, logs, and "
                '"<org>"."<dataset>" for each dataset you may read (see docs/query.md)',
            )

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Check and run the SQL (with `$name` parameters) under the time limit; returns the
        cursor with its result."""
        self.check(sql)
        timer = threading.Timer(self.limits.timeout_s, self.con.interrupt)
        timer.start()
        try:
            return self.con.execute(sql, params) if params else self.con.execute(sql)
        except duckdb.InterruptException as exc:
            raise QueryFailed(
                f"the query ran past its time limit of {self.limits.timeout_s:g} s",
                "narrow it (a block range, a LIMIT) or ask for a higher query_timeout_ms quota",
            ) from exc
        except duckdb.OutOfMemoryException as exc:
            raise QueryFailed(
                f"the query needed more than its memory limit of {self.limits.memory}",
                "aggregate more, select fewer columns, or download in a streaming format",
            ) from exc
        except duckdb.PermissionException as exc:
            raise QueryRefused(
                f"not allowed: {_first_line(exc)}",
                "only the registered views and their files are readable",
            ) from exc
        except duckdb.Error as exc:
            raise QueryFailed(_first_line(exc)) from exc
        finally:
            timer.cancel()

    def close(self) -> None:
        self.con.close()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _function_names(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        name = node.get("function_name")
        if isinstance(name, str):
            yield name.lower()
        for value in node.values():
            yield from _function_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _function_names(item)


def _reader(uris: list[str]) -> str:
    """A DuckDB table function call that reads these files (by their suffix)."""
    paths = [_path_of(u) for u in uris]
    listed = "[" + ", ".join(_literal(p) for p in paths) + "]"
    suffixes = {Path(urlparse(p).path).suffix for p in paths}
    if suffixes <= {".parquet"}:
        return f"read_parquet({listed}, union_by_name = true)"
    if suffixes <= {".csv"}:
        return f"read_csv({listed}, union_by_name = true)"
    return f"read_json({listed}, format = 'newline_delimited', union_by_name = true)"


def _path_of(uri: str) -> str:
    parsed = urlparse(uri)
    return parsed.path if parsed.scheme == "file" else uri


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _allowed_dirs(uris: list[str], store: ObjectStore) -> list[str]:
    dirs = {str(Path(_path_of(u)).parent) + "/" for u in uris if urlparse(u).scheme == "file"}
    if isinstance(store, LocalStore):
        dirs.add(str(store.root / "global" / "chain") + "/")
    else:
        dirs.add(store.uri("global/chain/"))
    return sorted(dirs)


_PARSER = duckdb.connect(":memory:")
_PARSER_LOCK = threading.Lock()
CHAIN_TABLES = ("blocks", "transactions", "logs")


def chain_tables_read_by(sql: str | None) -> tuple[str, ...]:
    """The chain views `sql` names (all of them when unsure: no SQL, unparsable SQL, or a
    saved query, whose own SQL may name any)."""
    if not sql:
        return CHAIN_TABLES
    with _PARSER_LOCK:
        try:
            row = _PARSER.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
        except duckdb.Error:
            return CHAIN_TABLES
    tree = json.loads(row[0]) if row else {}
    if tree.get("error"):
        return CHAIN_TABLES
    named = set(_table_refs(tree))
    if any(schema == "saved" for schema, _ in named):
        return CHAIN_TABLES
    return tuple(t for t in CHAIN_TABLES if ("", t) in named or ("main", t) in named)


def _table_refs(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            yield str(node.get("schema_name") or "").lower(), node["table_name"].lower()
        for value in node.values():
            yield from _table_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _table_refs(item)


def open_session(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    limits: Limits | None = None,
    sql: str | None = None,
) -> Session:
    """A locked-down DuckDB session with the views `conn`'s identity may read. `conn` must be in
    a REPEATABLE READ transaction under that identity (chainlake.db.claims_transaction). Given
    the SQL it is for, hot chain rows are fetched only for the chain views it names."""
    limits = limits or Limits()
    snapshot, hot = read_snapshot_in(conn, store, chain_tables_read_by(sql))
    with conn.cursor() as cur:
        datasets = cur.execute(
            "SELECT org_name, dataset, uris FROM catalog.queryable_datasets()"
        ).fetchall()
    extensions = () if isinstance(store, LocalStore) else ("httpfs",)
    con = duck_connect(*extensions)
    try:
        for statement in store.duckdb_setup():
            con.execute(statement)
        create_chain_views(con, snapshot, hot)
        views = ["blocks", "transactions", "logs"]
        all_uris: list[str] = []
        for org_name, dataset, uris in datasets:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(org_name)}")
            con.execute(
                f"CREATE VIEW {_ident(org_name)}.{_ident(dataset)} AS "  # noqa: S608 - quoted
                f"SELECT * FROM {_reader(list(uris))}"
            )
            views.append(f'"{org_name}"."{dataset}"')
            all_uris.extend(uris)
        session = Session(con, views, limits)
        with conn.cursor() as cur:
            saved = cur.execute(
                "SELECT org, name, sql, params FROM catalog.list_queries(NULL, 1000)"
            ).fetchall()
        views.extend(_saved_views(session, saved))
        dirs = _allowed_dirs(all_uris, store)
        con.execute(f"SET memory_limit = {_literal(limits.memory)}")
        con.execute(f"SET threads = {int(limits.threads)}")
        con.execute(f"SET allowed_directories = [{', '.join(_literal(d) for d in dirs)}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except Exception:
        con.close()
        raise
    return session


def open_caller_session(
    conn: psycopg.Connection[Any],
    claims: dict[str, Any],
    store: ObjectStore,
    limits: Limits | None = None,
    sql: str | None = None,
) -> Session:
    """A session for the identity in `claims` (the API's path: `conn` is chainlake_api's). The
    connection is free again when this returns; the session is the caller's to close."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with claims_transaction(conn, claims) as cur:
            limits = limits or session_limits(cur.connection)
            return open_session(cur.connection, store, limits, sql)
    finally:
        conn.isolation_level = None


def open_operator_session(admin_url: str, store: ObjectStore, sql: str | None = None) -> Session:
    """The operator's session (superuser: every org's datasets)."""
    with psycopg.connect(admin_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            return open_session(conn, store, sql=sql)


@contextmanager
def caller_session(
    conn: psycopg.Connection[Any],
    claims: dict[str, Any],
    store: ObjectStore,
    limits: Limits | None = None,
) -> Iterator[Session]:
    session = open_caller_session(conn, claims, store, limits)
    try:
        yield session
    finally:
        session.close()


def _saved_views(session: Session, saved: list[tuple[Any, ...]]) -> list[str]:
    """`saved."<name>"` for each saved query without parameters that passes the same check as
    any query (first one per name: orgs alphabetically)."""
    made = []
    session.con.execute("CREATE SCHEMA IF NOT EXISTS saved")
    for _org, name, sql, params in saved:
        view = f"saved.{_ident(name)}"
        if params or view in made:
            continue
        try:
            session.check(sql)
            session.con.execute(f"CREATE VIEW {view} AS {sql}")
        except (ChainlakeError, duckdb.Error):
            continue  # it fails as a view: run it by name to see why
        made.append(view)
    return made


def session_limits(conn: psycopg.Connection[Any]) -> Limits:
    """The caller's org quota for query time and memory (the most generous of its orgs)."""
    row = conn.execute(
        "SELECT max(query_timeout_ms), max(query_memory_mb) FROM core.quotas"
    ).fetchone()
    if row is None or row[0] is None:
        return Limits()
    return Limits(timeout_s=row[0] / 1000, memory=f"{int(row[1])}MB")


def jsonable(value: Any) -> Any:
    """A DuckDB value as JSON: bytes as 0x-hex, decimals and big integers as strings."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, int) and abs(value) >= 2**53:
        return str(value)
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def ensure_error(exc: BaseException) -> ChainlakeError:
    return exc if isinstance(exc, ChainlakeError) else QueryFailed(_first_line(exc))
