"""Evil's clients in the noisy-neighbour scenario (tests/security/neighbour_kit.py): every flood
of its attack, each in threads of its own, in a process of their own (their client-side work
never competes with acme's measurements for a GIL), until told to stop; what each got comes
back as counts. Each loop is bounded in count, and every wait in time; traffic goes to
127.0.0.1 and the cluster's socket only.

Done the way evil's users could: with their own login roles over SQL (lock attempts, long
transactions, the connection flood, slot hogging) and their own API tokens (huge results); the
junk tokens are an anonymous caller's."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg import errors

from tests.integration.conftest import send
from tests.oidc import junk

HOG_SECONDS = 20  # each of evil's long runs
HUGE_ROWS = 200_000  # rows of ~1 kB in each of evil's streamed queries
HUGE_PER_USER = 3  # streams at once per evil user (the API allows 2)
HUGE_FORMAT = "jsonl"
HUGE_USERS = ("reader", "writer", "admin")
JUNK_THREADS = 8
NO_TIMEOUTS = (
    "SET statement_timeout = 0",
    "SET idle_in_transaction_session_timeout = 0",
    "SET lock_timeout = 0",
)
READ_TABLES = ("alerts.rules", "catalog.datasets", "jobs.definitions")


@dataclass(frozen=True)
class Evil:
    """What evil's clients know: its org, its users' login URLs and API tokens (by role), the
    API, the issuer whose provider is down, and acme's org id (as the reviewer learned it)."""

    org_id: str
    logins: dict[str, str]
    tokens: dict[str, str]
    api: str
    down_issuer: str
    acme_id: str


class Counts:
    """A counter several threads add to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counter: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counter[key] += n

    def most(self, key: str, value: int) -> None:
        with self._lock:
            self.counter[key] = max(self.counter[key], value)


def run_clients(evil: Evil, stop: Event, ready: Event, out: Queue[dict[str, int]]) -> None:
    """The child process: every client started (then `ready`), until `stop`; the counts out."""
    clients = Clients(evil, stop)
    threads = [
        threading.Thread(target=target, args=args, daemon=True) for target, args in clients.all()
    ]
    for thread in threads:
        thread.start()
    ready.set()
    stop.wait(3600)
    for thread in threads:
        thread.join(30)
    for conn in clients.held:
        conn.close()
    out.put(dict(clients.counts.counter))


class Clients:
    def __init__(self, evil: Evil, stop: Event) -> None:
        self.evil = evil
        self.stop = stop
        self.counts = Counts()
        self.held: list[psycopg.Connection[Any]] = []  # the connection flood's
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.junk = [junk(f"https://idp{i}.invalid", key) for i in range(4)]
        self.junk.append(junk(evil.down_issuer, key))

    def all(self) -> list[tuple[Callable[..., None], tuple[Any, ...]]]:
        attacks: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
            (self.lock_attempts, ()),
            (self.long_transaction, ("reader", [f"SELECT count(*) FROM {t}" for t in READ_TABLES])),
            (self.long_transaction, ("writer", _writer_locks(self.evil.org_id))),
            (self.long_transaction, ("admin", _admin_locks(self.evil.org_id))),
            (self.connection_flood, ()),
            (self.slot_hogging, ()),
        ]
        attacks += [(self.junk_tokens, (i,)) for i in range(JUNK_THREADS)]
        attacks += [(self.huge_results, (role,)) for role in HUGE_USERS] * HUGE_PER_USER
        return attacks

    @property
    def running(self) -> bool:
        return not self.stop.is_set()

    # -- blocking primitives -----------------------------------------------------------------
    def lock_attempts(self) -> None:
        """Evil's reader tries the reviewer's locks, again and again, each in a transaction."""
        statements = _lock_statements(self.evil.acme_id)
        for _ in range(1000):
            if not self.running:
                return
            try:
                with psycopg.connect(self.evil.logins["reader"], autocommit=True) as conn:
                    while self.running:
                        for statement in statements:
                            self._try_lock(conn, statement)
                        self.stop.wait(0.5)
            except psycopg.OperationalError:
                self.counts.add("lock attempts could not connect")
                self.stop.wait(0.5)

    def _try_lock(self, conn: psycopg.Connection[Any], statement: str) -> None:
        try:
            with conn.transaction():
                conn.execute(statement)
            self.counts.add(f"lock taken: {statement}")
        except errors.InsufficientPrivilege:
            self.counts.add("lock refused")

    def long_transaction(self, role: str, statements: list[str]) -> None:
        """One of evil's users keeps a transaction open (its timeouts turned off, a statement
        running so that it is never idle) and opens another when the watchdog ends it."""
        for _ in range(1000):
            if not self.running:
                return
            try:
                conn = psycopg.connect(self.evil.logins[role])
            except psycopg.OperationalError:
                self.counts.add(f"{role} could not connect")
                self.stop.wait(0.2)
                continue
            try:
                self._hold(conn, role, statements)
            finally:
                conn.close()

    def _hold(self, conn: psycopg.Connection[Any], role: str, statements: list[str]) -> None:
        try:
            for statement in NO_TIMEOUTS:
                conn.execute(statement)
            for statement in statements:
                self._lock_or_count(conn, role, statement)
            self.counts.add(f"{role} transactions opened")
            while self.running:
                conn.execute("SELECT pg_sleep(0.5)")
            conn.rollback()
        except psycopg.OperationalError:
            self.counts.add(f"{role} transactions ended")
        except psycopg.Error as exc:
            self.counts.add(f"{role} transaction failed: {exc.sqlstate}")

    def _lock_or_count(self, conn: psycopg.Connection[Any], role: str, statement: str) -> None:
        try:
            with conn.transaction():  # a savepoint: a refusal keeps what is held already
                conn.execute(statement)
        except errors.InsufficientPrivilege:
            self.counts.add(f"{role} lock refused")

    def connection_flood(self) -> None:
        """Evil's reader opens connections until refused, holds them, and keeps trying."""
        for _ in range(2000):
            if not self.running:
                return
            try:
                self.held.append(psycopg.connect(self.evil.logins["reader"], autocommit=True))
                self.counts.most("most connections held", len(self.held))
            except psycopg.OperationalError as exc:
                refused = "too many connections" in str(exc)
                self.counts.add("connections refused" if refused else "connections failed")
                self.stop.wait(0.2)

    # -- the runner's slots ------------------------------------------------------------------
    def slot_hogging(self) -> None:
        """Long runs queued up to evil's queue quota, topped up as they start."""
        params = json.dumps({"do": "sleep", "seconds": HOG_SECONDS})
        for _ in range(1000):
            if not self.running:
                return
            try:
                with psycopg.connect(self.evil.logins["writer"], autocommit=True) as conn:
                    conn.execute(
                        "SELECT id FROM runs.request(%s, 'hog', %s)", (self.evil.org_id, params)
                    )
                self.counts.add("long runs queued")
            except psycopg.Error as exc:
                self.counts.add("queue quota refused" if exc.sqlstate == "53400" else "hog failed")
                self.stop.wait(0.5)

    # -- the API -----------------------------------------------------------------------------
    def junk_tokens(self, seed: int) -> None:
        """Requests with tokens of unknown issuers and of the configured one that is down."""
        for i in range(seed, seed + 20_000):
            if not self.running:
                return
            try:
                status, _ = send(self.evil.api, "GET", "/v1/whoami", self.junk[i % len(self.junk)])
            except OSError:
                status = 0
            self.counts.add(f"junk token {status}")

    def huge_results(self, role: str) -> None:
        """One of evil's users streams a 200 MB result, again and again."""
        sql = f"SELECT i, repeat('x', 1000) AS pad FROM range({HUGE_ROWS}) t(i)"
        request = urllib.request.Request(  # noqa: S310 - loopback http
            f"{self.evil.api}/v1/query",
            json.dumps({"sql": sql, "format": HUGE_FORMAT}).encode(),
            {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.evil.tokens[role]}",
            },
            method="POST",
        )
        for _ in range(1000):
            if not self.running:
                return
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    self.counts.add(f"huge result {response.status}")
                    while self.running and (chunk := response.read(1 << 20)):
                        self.counts.add("huge result bytes", len(chunk))
            except urllib.error.HTTPError as exc:
                self.counts.add(f"huge result {exc.code}")
                self.stop.wait(0.5)
            except OSError:
                self.counts.add("huge result failed")
                self.stop.wait(0.5)


def _lock_statements(acme_id: str) -> list[str]:
    """The reviewer's LOCK TABLE and the advisory locks on the keys the platform used."""
    keys = [f"runs.start:{acme_id}", f"core.storage:{acme_id}"]
    return [
        f"LOCK TABLE {', '.join(READ_TABLES)} IN ACCESS EXCLUSIVE MODE",
        *[f"LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE" for t in READ_TABLES],
        *[f"SELECT pg_advisory_lock(hashtextextended('{key}', 0))" for key in keys],
        "SELECT pg_try_advisory_xact_lock(x'636C6D67'::bigint)",
    ]


def _writer_locks(org_id: str) -> list[str]:
    """Its org's rules, channels and definitions, FOR UPDATE."""
    return [
        f"SELECT id FROM {t} WHERE org_id = '{org_id}' FOR UPDATE"
        for t in ("alerts.rules", "alerts.channels", "jobs.definitions")
    ]


def _admin_locks(org_id: str) -> list[str]:
    """Its org's memberships and its org's row, FOR UPDATE."""
    return [
        f"SELECT user_id FROM core.memberships WHERE org_id = '{org_id}' FOR UPDATE",
        f"SELECT id FROM core.orgs WHERE id = '{org_id}' FOR UPDATE",
    ]
