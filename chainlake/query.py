"""The query service's engine: one SQL over hot Postgres and cold Parquet, as the caller.

Per request, an in-memory DuckDB gets, read in one REPEATABLE READ snapshot of Postgres under
the caller's identity (so RLS decides everything):

- the unified chain views `blocks`, `transactions`, `logs` (cold chunks up to each chain's
  watermark, hot rows above it, pulled in as Arrow);
- one view per dataset the caller may read, `"<org>"."<dataset>"`, over the files of its
  current content.

DuckDB never connects to Postgres (the postgres extension is not even loaded), so user SQL
cannot reach Postgres as anyone. Then the session is locked down before user SQL runs: reads only
under the registered files' directories, no external access, no configuration changes; memory
and thread limits; a time limit enforced by interrupting the query. User SQL must be one SELECT
and may not call file-reading, secret or settings functions: each refusal names what and why.

Building a session costs a few round trips and a DuckDB start; the API keeps sessions in a
`SessionPool` and reuses one for the same identity while everything it was built from, re-read
in one round trip per request, is unchanged (see `SessionPool`).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb
import psycopg

from chainlake.chain.unified import Snapshot, create_chain_views, read_hot_in, snapshot_of
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
    release: Callable[[], None] | None = None
    saved_sql: dict[str, str] = field(default_factory=dict)  # saved."<name>" views' SQL
    unreadable: set[tuple[str, str]] = field(default_factory=set)  # datasets left out: (org, name)

    def check(self, sql: str) -> None:
        """Exactly one SELECT, calling nothing forbidden."""
        parsed = parse(sql)
        if parsed.error:
            raise QueryFailed(f"the SQL does not parse: {parsed.error}")
        if parsed.statements != 1:
            raise QueryRefused(f"send one statement at a time ({parsed.statements} given)")
        if parsed.kind != duckdb.StatementType.SELECT.name:
            raise QueryRefused(
                f"only SELECT (and WITH ... SELECT) queries run here, not {parsed.kind}",
                "ATTACH, INSTALL, LOAD, COPY, SET and the like are not available here",
            )
        self._check_readable(sql)
        tree = parsed.tree
        called = set(_function_names(tree))
        refused = sorted(called & FORBIDDEN_FUNCTIONS)
        if refused:
            raise QueryRefused(
                f"{', '.join(refused)} cannot be called in the query service",
                "query the views instead: blocks, transactions, logs, and "
                '"<org>"."<dataset>" for each dataset you may read (see docs/query.md)',
            )

    def _check_readable(self, sql: str) -> None:
        """A dataset left out of the session (its files do not parse) is named as such."""
        if not self.unreadable:
            return
        for org, name in datasets_named(sql, self.saved_sql):
            if (org, name) in self.unreadable:
                raise QueryFailed(
                    f"dataset {org}.{name} cannot be read: a file of its current version does "
                    "not parse as its format",
                    "the org that writes it must write a new version",
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
        """Done with it: back to its pool if it came from one, else closed."""
        if self.release is not None:
            release, self.release = self.release, None
            release()
        else:
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
    dirs |= {u.rsplit("/", 1)[0] + "/" for u in uris if urlparse(u).scheme == "s3"}
    if isinstance(store, LocalStore):
        dirs.add(str(store.root / "global" / "chain") + "/")
    else:
        dirs.add(store.uri("global/chain/"))
    return sorted(dirs)


_PARSER = duckdb.connect(":memory:")
_PARSER_LOCK = threading.Lock()
CHAIN_TABLES = ("blocks", "transactions", "logs")


@dataclass(frozen=True)
class Parsed:
    statements: int = 0
    kind: str = ""
    tree: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@functools.lru_cache(maxsize=512)
def parse(sql: str) -> Parsed:
    """How DuckDB parses `sql`: the statement count, the first one's type and its serialized
    tree, or the parse error (cached: a dashboard sends the same SQL again and again; the
    result is never mutated)."""
    with _PARSER_LOCK:
        try:
            statements = _PARSER.extract_statements(sql)
        except duckdb.Error as exc:
            return Parsed(error=_first_line(exc))
        if len(statements) != 1:
            return Parsed(statements=len(statements))
        if statements[0].type != duckdb.StatementType.SELECT:
            return Parsed(1, statements[0].type.name)
        row = _PARSER.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else {}
    if tree.get("error"):
        return Parsed(error=str(tree.get("error_message", "")))
    return Parsed(1, statements[0].type.name, tree)


def chain_tables_read_by(sql: str | None) -> tuple[str, ...]:
    """The chain views `sql` names (all of them when unsure: no SQL, unparsable SQL, or a
    saved query, whose own SQL may name any)."""
    parsed = parse(sql) if sql else Parsed()
    if not parsed.tree:
        return CHAIN_TABLES
    named = set(_table_refs(parsed.tree))
    if any(schema == "saved" for schema, _ in named):
        return CHAIN_TABLES
    return tuple(t for t in CHAIN_TABLES if ("", t) in named or ("main", t) in named)


def datasets_named(sql: str, saved: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The ("org", "dataset") views `sql` reads (for the audit of data access), also through
    the saved-query views it names (`saved`: their SQL by lowercase name)."""
    found: set[tuple[str, str]] = set()
    expanded: set[str] = set()
    pending = [sql]
    while pending:
        for schema, table in set(_table_refs(parse(pending.pop()).tree)):
            if schema == "saved" and saved and table in saved and table not in expanded:
                expanded.add(table)
                pending.append(saved[table])
            elif schema not in ("", "main", "saved"):
                found.add((schema, table))
    return sorted(found)


def _table_refs(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            yield str(node.get("schema_name") or "").lower(), node["table_name"].lower()
        for value in node.values():
            yield from _table_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _table_refs(item)


SessionKey = tuple[str, tuple[str, ...], str, str]


class SessionPool:
    """Sessions kept between requests: a session is taken again only by the same identity,
    for SQL reading the same chain tables, while the context it was built from (which the
    request re-reads under the caller's identity, in one round trip) is unchanged: the same
    quotas, watermarks, chain versions, cold files, readable datasets and saved queries. A
    grant, a revocation, a new block or a new dataset version therefore builds a fresh one. A
    session is used by one request at a time; idle ones are closed after `max_idle_s`, and at
    most `capacity` are kept."""

    def __init__(self, capacity: int = 16, max_idle_s: float = 120.0) -> None:
        self.capacity = capacity
        self.max_idle_s = max_idle_s
        self._lock = threading.Lock()
        self._idle: list[tuple[float, SessionKey, Session]] = []

    def take(self, key: SessionKey) -> Session | None:
        with self._lock:
            self._expire(time.monotonic())
            for i, (_at, held, session) in enumerate(self._idle):
                if held == key:
                    del self._idle[i]
                    return session
        return None

    def give(self, key: SessionKey, session: Session) -> None:
        """Keep `session` for reuse under `key` (closing the oldest idle one beyond capacity)."""
        with self._lock:
            self._idle.append((time.monotonic(), key, session))
            self._expire(time.monotonic())
            while len(self._idle) > self.capacity:
                self._idle.pop(0)[2].con.close()

    def close(self) -> None:
        with self._lock:
            for _at, _key, session in self._idle:
                session.con.close()
            self._idle.clear()

    def _expire(self, now: float) -> None:
        keep = []
        for entry in self._idle:
            if now - entry[0] > self.max_idle_s:
                entry[2].con.close()
            else:
                keep.append(entry)
        self._idle = keep


def read_context(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """catalog.query_context() as the connection's identity (see sql/catalog/80_query.sql)."""
    row = conn.execute("SELECT catalog.query_context()").fetchone()
    assert row is not None
    context: dict[str, Any] = row[0]
    return context


def quota_limits(context: dict[str, Any]) -> Limits:
    """The caller's org quota for query time and memory (the most generous of its orgs)."""
    quota = context["limits"]
    if quota["timeout_ms"] is None:
        return Limits()
    return Limits(timeout_s=quota["timeout_ms"] / 1000, memory=f"{int(quota['memory_mb'])}MB")


def open_session(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    limits: Limits | None = None,
    sql: str | None = None,
    pool: SessionPool | None = None,
    identity: str = "",
) -> Session:
    """A locked-down DuckDB session with the views `conn`'s identity may read. `conn` must be in
    a REPEATABLE READ transaction under that identity (chainlake.db.claims_transaction). Given
    the SQL it is for, hot chain rows are fetched only for the chain views it names. With a
    pool, an unchanged session of the same identity is reused, and closing the session gives
    it back."""
    context = read_context(conn)
    limits = limits or quota_limits(context)
    tables = chain_tables_read_by(sql)
    key: SessionKey = (
        identity,
        tables,
        repr(limits),
        json.dumps(context, sort_keys=True, separators=(",", ":")),
    )
    if pool is not None and (reused := pool.take(key)) is not None:
        reused.release = lambda: pool.give(key, reused)
        return reused
    snapshot = snapshot_of(context, store)
    hot = read_hot_in(conn, snapshot, tables)
    session = _build_session(context, snapshot, hot, store, limits)
    if pool is not None:
        session.release = lambda: pool.give(key, session)
    return session


def _build_session(
    context: dict[str, Any],
    snapshot: Snapshot,
    hot: dict[str, Any],
    store: ObjectStore,
    limits: Limits,
) -> Session:
    extensions = () if isinstance(store, LocalStore) else ("httpfs",)
    con = duck_connect(*extensions)
    try:
        for statement in store.duckdb_setup():
            con.execute(statement)
        create_chain_views(con, snapshot, hot)
        views = ["blocks", "transactions", "logs"]
        all_uris: list[str] = []
        unreadable = set()
        for dataset in context["datasets"]:
            org_name, name, uris = dataset["org"], dataset["name"], dataset["uris"]
            if not _dataset_view(con, org_name, name, list(uris)):
                unreadable.add((org_name.lower(), name.lower()))
                continue
            views.append(f'"{org_name}"."{name}"')
            all_uris.extend(uris)
        session = Session(con, views, limits, unreadable=unreadable)
        views.extend(_saved_views(session, context["saved"]))
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


def _dataset_view(con: duckdb.DuckDBPyConnection, org: str, name: str, uris: list[str]) -> bool:
    """The view `"<org>"."<name>"` over the dataset's files; False, and no view, when DuckDB
    cannot read them (a file that does not parse as its format, which it reads to make the
    view): one dataset's files never break the queries of everyone who may read it."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(org)}")
    try:
        con.execute(
            f"CREATE VIEW {_ident(org)}.{_ident(name)} AS "  # noqa: S608 - quoted
            f"SELECT * FROM {_reader(uris)}"
        )
    except duckdb.Error:
        return False
    return True


def open_caller_session(
    conn: psycopg.Connection[Any],
    claims: dict[str, Any],
    store: ObjectStore,
    limits: Limits | None = None,
    sql: str | None = None,
    pool: SessionPool | None = None,
) -> Session:
    """A session for the identity in `claims` (the API's path: `conn` is chainlake_api's), its
    limits the org quota unless given. The connection is free again when this returns; the
    session is the caller's to close."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with claims_transaction(conn, claims) as cur:
            identity = str(claims.get("sub", ""))
            return open_session(cur.connection, store, limits, sql, pool, identity)
    finally:
        conn.isolation_level = None


def open_operator_session(admin_url: str, store: ObjectStore, sql: str | None = None) -> Session:
    """The operator's session (superuser: every org's datasets; default limits)."""
    with psycopg.connect(admin_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            return open_session(conn, store, Limits(), sql=sql)


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


def saved_view_name(entry: Mapping[str, Any]) -> str:
    """The view name of a saved query: `<name>` for the caller's own orgs' ones, `<org>.<name>`
    for one another org shared (it never lands in, nor shadows, the caller's namespace)."""
    return f"{entry['org']}.{entry['name']}" if entry.get("shared", True) else str(entry["name"])


def _saved_views(session: Session, saved: list[dict[str, Any]]) -> list[str]:
    """`saved."<name>"` for each saved query without parameters that passes the same check as
    any query (first one per name, in catalog.query_context's order: the caller's own, then its
    orgs', alphabetically), and `saved."<org>.<name>"` for those other orgs share."""
    made = []
    session.con.execute("CREATE SCHEMA IF NOT EXISTS saved")
    for entry in saved:
        name, sql, params = saved_view_name(entry), entry["sql"], entry["params"]
        view = f"saved.{_ident(name)}"
        if params or view in made:
            continue
        try:
            session.check(sql)
            session.con.execute(f"CREATE VIEW {view} AS {sql}")
        except (ChainlakeError, duckdb.Error):
            continue  # it fails as a view: run it by name to see why
        made.append(view)
        session.saved_sql[name.lower()] = sql
    return made


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
