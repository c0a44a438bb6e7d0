"""`chainlake migrate`: pgmq, then alembic revisions, then `sql/` and `rls_policies/` files.

- `migrations/` holds alembic revisions (tables, types, indexes); each revision's SQL is a `.sql`
  file beside its `.py`. Immutable once landed.
- pgmq is installed from the `pgmq` package's bundled SQL when its version is new to the database.
- `sql/<schema>/NN_*.sql` then `rls_policies/*.sql` are idempotent; each is re-applied when its
  checksum differs from the one recorded in `chainlake_meta.applied_files` (keyed by its path).
  `sql/` is grouped by schema, one folder each, but applied in one global order: by file name,
  whose number prefix is unique across the folders and says what a file needs (a file may use
  what any lower number defines, whatever its folder).
- then every SECURITY DEFINER function is handed to its owner, a platform role that is no
  superuser (`core.settle_function_owners`, sql/core/01_function_owners.sql).

A session-level advisory lock serializes concurrent migrators (advisory locks are the
migrator's only: no other role may take one). Running it twice changes nothing.

A migration waits for a table's lock only briefly (lock_timeout), then tries again a few times:
a strong lock queued behind a user's open transaction would queue every other session behind
it. After a new revision, every rls_policies file is applied again (people's column-level
UPDATE grants follow the columns a revision adds).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from chainlake.errors import ChainlakeError, translate

MIGRATION_LOCK_KEY = 0x636C6D67  # "clmg"
PGMQ_LEDGER_KEY = "pgmq"
POLICIES_REVISION_KEY = "rls_policies@revision"  # the revision policies were last applied at
LOCK_TIMEOUT = "1s"  # how long one attempt waits for a table's lock
LOCK_RETRY_SECONDS = (1, 2, 4, 8)  # the pauses between attempts


def schema_root() -> Path:
    """Where migrations/, sql/ and rls_policies/ live: packaged with the wheel, or the repo."""
    packaged = Path(__file__).parent / "_schema"
    if (packaged / "migrations").is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent


def sql_revision(revision_file: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """upgrade/downgrade functions for an alembic revision whose SQL is in a sibling .sql file."""
    sql_path = Path(revision_file).with_suffix(".sql")

    def upgrade() -> None:
        from alembic import op

        op.get_bind().exec_driver_sql(sql_path.read_text())

    def downgrade() -> None:
        raise ChainlakeError(
            "chainlake migrations are forward-only",
            "restore a backup, or write a new revision that undoes the change",
        )

    return upgrade, downgrade


@dataclass
class MigrationReport:
    revisions: list[str] = field(default_factory=list)
    pgmq: str | None = None
    files: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.revisions or self.pgmq or self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "revisions": self.revisions,
            "pgmq": self.pgmq,
            "files": self.files,
            "changed": self.changed,
        }

    def short(self) -> str:
        if not self.changed:
            return "up to date"
        parts = [f"{len(self.revisions)} revision(s)"] if self.revisions else []
        parts += [f"pgmq {self.pgmq}"] if self.pgmq else []
        parts += [f"{len(self.files)} stored-logic file(s)"] if self.files else []
        return "applied " + ", ".join(parts)

    def summary(self) -> str:
        if not self.changed:
            return "nothing to apply: the schema is up to date"
        lines = [f"applied revision {r}" for r in self.revisions]
        if self.pgmq:
            lines.append(f"installed pgmq {self.pgmq}")
        lines += [f"applied {f}" for f in self.files]
        return "\n".join(lines)


def _alembic_config(connection: sqlalchemy.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(schema_root() / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def _current_revision(connection: sqlalchemy.Connection) -> str | None:
    ctx = MigrationContext.configure(connection, opts={"version_table_schema": "chainlake_meta"})
    return ctx.get_current_revision()


def _apply_revisions(url: str) -> list[str]:
    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(url, options=f"-c lock_timeout={LOCK_TIMEOUT}"),
        poolclass=NullPool,
    )
    try:
        with engine.connect() as connection:
            before = _current_revision(connection)
            connection.commit()
            cfg = _alembic_config(connection)
            command.upgrade(cfg, "head")
            connection.commit()
            after = _current_revision(connection)
            connection.commit()
            script = ScriptDirectory.from_config(cfg)
    finally:
        engine.dispose()
    if before == after or after is None:
        return []
    applied = [rev.revision for rev in script.iterate_revisions(after, before)]
    return list(reversed(applied))


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _recorded_checksums(conn: psycopg.Connection[Any]) -> dict[str, str]:
    rows = conn.execute("SELECT path, checksum FROM chainlake_meta.applied_files").fetchall()
    return {path: checksum for path, checksum in rows}


def _record(conn: psycopg.Connection[Any], path: str, checksum: str) -> None:
    conn.execute(
        "INSERT INTO chainlake_meta.applied_files (path, checksum) VALUES (%s, %s) "
        "ON CONFLICT (path) DO UPDATE SET checksum = excluded.checksum, applied_at = now()",
        (path, checksum),
    )


def _install_pgmq(conn: psycopg.Connection[Any], recorded: dict[str, str]) -> str | None:
    from pgmq.install import get_embedded_install_sql, get_embedded_sql_version

    version = str(get_embedded_sql_version())
    if recorded.get(PGMQ_LEDGER_KEY) == version:
        return None
    conn.execute(get_embedded_install_sql())
    _record(conn, PGMQ_LEDGER_KEY, version)
    return version


def _policies_follow_revision(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The recorded checksums, without rls_policies/ ones when a revision came since they were
    last applied (people's column grants follow the columns a revision adds); notes the
    revision they are applied at."""
    recorded = _recorded_checksums(conn)
    row = conn.execute("SELECT version_num FROM chainlake_meta.alembic_version").fetchone()
    head = str(row[0]) if row else ""
    if recorded.get(POLICIES_REVISION_KEY) != head:
        recorded = {k: v for k, v in recorded.items() if not k.startswith("rls_policies/")}
        _record(conn, POLICIES_REVISION_KEY, head)
    return recorded


def stored_logic_files() -> list[tuple[str, Path]]:
    """sql/ (every schema's folder) then rls_policies/, each in file-name order (the global
    number prefix, then the folder), as (ledger key: the path under the root, path)."""
    root = schema_root()
    return [
        (path.relative_to(root).as_posix(), path)
        for folder in ("sql", "rls_policies")
        for path in sorted((root / folder).rglob("*.sql"), key=lambda p: (p.name, p.as_posix()))
    ]


def _apply_files(conn: psycopg.Connection[Any], recorded: dict[str, str]) -> list[str]:
    applied = []
    for key, path in stored_logic_files():
        text = path.read_text()
        checksum = _checksum(text)
        if recorded.get(key) == checksum:
            continue
        try:
            conn.execute(text)
        except psycopg.Error as exc:
            raise ChainlakeError(f"{key} failed: {translate(exc)}") from exc
        _record(conn, key, checksum)
        applied.append(key)
    return applied


def _check_migrator(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not row or not row[0]:
        raise ChainlakeError(
            "the migrating role must be a superuser or have BYPASSRLS",
            "it creates the platform's roles and tables and hands each SECURITY DEFINER function "
            "to its owner role",
        )


def migrate(url: str) -> MigrationReport:
    """Bring the database at `url` up to date; report what was applied."""
    pauses = list(LOCK_RETRY_SECONDS)
    while True:
        try:
            return _migrate_once(url)
        except (ChainlakeError, psycopg.Error, DBAPIError) as exc:
            if not _gave_up_on_a_lock(exc):
                raise
            if not pauses:
                raise ChainlakeError(
                    "the migration could not get a table's lock: a session keeps a transaction "
                    "open on a table it changes",
                    "the runners' watchdog ends user sessions past their transaction bound; or "
                    "find it (pg_locks, pg_stat_activity), end it with pg_terminate_backend(pid) "
                    "and migrate again",
                ) from exc
        time.sleep(pauses.pop(0))


def _gave_up_on_a_lock(exc: BaseException | None) -> bool:
    """Whether a step stopped at lock_timeout, however the error was wrapped."""
    while exc is not None:
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
    return False


def _migrate_once(url: str) -> MigrationReport:
    report = MigrationReport()
    with psycopg.connect(url, autocommit=True) as conn:
        _check_migrator(conn)
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))  # waits for migrators
        try:
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            conn.execute((schema_root() / "migrations" / "bootstrap.sql").read_text())
            with conn.transaction():  # revisions may create queues: pgmq comes first
                report.pgmq = _install_pgmq(conn, _recorded_checksums(conn))
            report.revisions = _apply_revisions(url)
            with conn.transaction():
                report.files = _apply_files(conn, _policies_follow_revision(conn))
                if report.changed:  # new or replaced definer functions go to their owners
                    conn.execute("CALL core.settle_function_owners()")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return report
