"""Liveness and readiness. Live: the process answers. Ready: Postgres answers, the object store
answers and the queues (pgmq) answer; each part's failure is one line naming it and why."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from chainlake.storage import ObjectStore

TIMEOUT_S = 2
PROBE_KEY = "_health/ready-probe"


@dataclass(frozen=True)
class Readiness:
    """Each part's state: "ok", or why it is not."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(state == "ok" for state in self.checks.values())

    def body(self) -> dict[str, Any]:
        failed = [f"{part}: {state}" for part, state in self.checks.items() if state != "ok"]
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks} | (
            {"failed": failed} if failed else {}
        )


def readiness(database_url: str, store: ObjectStore | None) -> Readiness:
    """Postgres, pgmq, then the object store (probed in a thread, bounded in time)."""
    checks = dict(zip(("postgres", "pgmq"), _database(database_url), strict=True))
    checks["object_store"] = _store(store) if store is not None else "ok"
    return Readiness(checks)


def _database(database_url: str) -> tuple[str, str]:
    try:
        with psycopg.connect(
            database_url,
            connect_timeout=TIMEOUT_S,
            options=f"-c statement_timeout={TIMEOUT_S * 1000}",
            autocommit=True,
        ) as conn:
            conn.execute("SELECT 1")
            try:
                row = conn.execute("SELECT core.queues_problem()").fetchone()
            except psycopg.Error as exc:
                return "ok", _one_line(exc)
            return "ok", (row[0] if row and row[0] else "ok")
    except (psycopg.Error, ValueError) as exc:
        return f"does not answer at {_where(database_url)}: {_one_line(exc)}", (
            "not checked (Postgres does not answer)"
        )


def _store(store: ObjectStore) -> str:
    found: list[str] = []
    where = _store_address(store)

    def probe() -> None:
        try:
            store.exists(PROBE_KEY)
            found.append("ok")
        except Exception as exc:
            found.append(f"does not answer at {where}: {_one_line(exc)}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S * 2)
    return found[0] if found else f"no answer within {TIMEOUT_S * 2} s at {where}"


def _where(database_url: str) -> str:
    try:
        found = conninfo_to_dict(database_url)
    except psycopg.ProgrammingError:
        return "an unparsable database URL"
    return f"{found.get('host') or 'the local socket'}:{found.get('port') or 5432}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _store_address(store: ObjectStore) -> str:
    try:
        return store.uri(PROBE_KEY).removesuffix(PROBE_KEY)
    except Exception:
        return type(store).__name__
