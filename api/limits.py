"""The query service's caps in the API process: how many queries run at once per user and in
the process (over either: 429 with Retry-After, nothing run), and how many bytes a JSON page
may hold (over it: 413 naming the streamed formats). With DuckDB's own `memory_limit` per
session, they bound the process's memory: about per_process x (memory_limit + json_max_bytes).

The users of one org (a caller's member orgs, as one key) share a cap below the process's, so
one org's users cannot hold every slot; and a download gives its slot back when its client
stops reading for `stream_idle_seconds` or the download has run `stream_max_seconds` (the
connection is then cut: the client sees an incomplete answer, never a short one that looks whole).

Set with CHAINLAKE_QUERY_PER_USER (default 2), CHAINLAKE_QUERY_PER_ORG (4),
CHAINLAKE_QUERY_PER_PROCESS (8), CHAINLAKE_QUERY_JSON_MAX_BYTES (16 MiB),
CHAINLAKE_QUERY_STREAM_IDLE_SECONDS (30) and CHAINLAKE_QUERY_STREAM_MAX_SECONDS (900)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import anyio

from chainlake.errors import InvalidInput, QuotaExceeded
from chainlake.results import JSON_MAX_BYTES

RETRY_AFTER_S = 2


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"{name}={raw!r}: must be a whole number of at least 1")
    return int(raw)


@dataclass(frozen=True)
class QueryCaps:
    per_user: int = 2
    per_org: int = 4
    per_process: int = 8
    json_max_bytes: int = JSON_MAX_BYTES
    stream_idle_seconds: float = 30.0
    stream_max_seconds: float = 900.0

    @classmethod
    def from_environment(cls) -> QueryCaps:
        return cls(
            per_user=_positive("CHAINLAKE_QUERY_PER_USER", cls.per_user),
            per_org=_positive("CHAINLAKE_QUERY_PER_ORG", cls.per_org),
            per_process=_positive("CHAINLAKE_QUERY_PER_PROCESS", cls.per_process),
            json_max_bytes=_positive("CHAINLAKE_QUERY_JSON_MAX_BYTES", cls.json_max_bytes),
            stream_idle_seconds=_positive(
                "CHAINLAKE_QUERY_STREAM_IDLE_SECONDS", int(cls.stream_idle_seconds)
            ),
            stream_max_seconds=_positive(
                "CHAINLAKE_QUERY_STREAM_MAX_SECONDS", int(cls.stream_max_seconds)
            ),
        )


class QueryGate:
    """Counts the queries running (from execution to the last byte sent) per user and in all."""

    def __init__(self, caps: QueryCaps) -> None:
        self.caps = caps
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()  # per user
        self._by_org: Counter[str] = Counter()  # per set of member orgs

    def enter(self, user: str, orgs: str = "") -> Callable[[], None]:
        """A slot for one query of `user`, a member of `orgs` (one key for the set), or
        QuotaExceeded; call the answer (once or more) to give the slot back."""
        with self._lock:
            if self._running[user] >= self.caps.per_user:
                raise QuotaExceeded(
                    f"too many queries of yours at once: {self.caps.per_user} at a time per user",
                    "wait for one to finish (a download holds its slot until it is read)",
                    RETRY_AFTER_S,
                )
            if self._by_org[orgs] >= self.caps.per_org:
                raise QuotaExceeded(
                    f"too many queries of your org's users at once: {self.caps.per_org} at a "
                    "time per org",
                    "wait for one of them to finish",
                    RETRY_AFTER_S,
                )
            if self._running.total() >= self.caps.per_process:
                raise QuotaExceeded(
                    f"the query service is busy: {self.caps.per_process} at a time per API process",
                    "try again in a moment",
                    RETRY_AFTER_S,
                )
            self._running[user] += 1
            self._by_org[orgs] += 1
        given_back = threading.Event()

        def leave() -> None:
            with self._lock:
                if not given_back.is_set():
                    given_back.set()
                    for counter, key in ((self._running, user), (self._by_org, orgs)):
                        counter[key] -= 1
                        if counter[key] <= 0:
                            del counter[key]

        return leave


class StreamAbandoned(Exception):
    """A download cut short (its connection is closed mid-answer, never ended as if whole)."""


class Held(AsyncIterator[bytes]):
    """An answer's chunks, each made in a worker thread, that run `done` once: when they end or
    fail, when their request is cancelled (a client gone mid-download), when they are dropped
    unread, or when the client stops reading (no chunk taken for `stream_idle_seconds`) or the
    download runs past `stream_max_seconds`: a watchdog gives the slot back then, since a client
    that stops reading holds the server in its send (flow control), where nothing else would
    notice. A stream cut so ends with an error (its connection closed mid-answer), never as if
    whole. An async iterator without a generator of its own, so that nothing keeps it in a
    reference cycle: dropped, it is gone at once, its slot with it."""

    def __init__(
        self, chunks: Iterator[bytes], done: Callable[[], None], caps: QueryCaps | None = None
    ) -> None:
        self._chunks = chunks
        self._done: Callable[[], None] | None = done
        self._caps = caps or QueryCaps()
        self._started = self._handed = time.monotonic()
        self._lock = threading.Lock()  # held while a chunk is made, and to close
        self._cut: str | None = None
        threading.Thread(target=self._watch, daemon=True).start()

    def __aiter__(self) -> Held:
        return self

    async def __anext__(self) -> bytes:
        if self._cut is not None:
            raise StreamAbandoned(self._cut)
        if self._done is None:
            raise StopAsyncIteration
        try:  # not abandoned on cancel: the thread's next() ends before close() runs
            chunk = await anyio.to_thread.run_sync(self._next)
        except BaseException:
            self.close()
            raise
        if self._cut is not None:
            raise StreamAbandoned(self._cut)
        if chunk is None:
            self.close()
            raise StopAsyncIteration
        self._handed = time.monotonic()
        return chunk

    def _next(self) -> bytes | None:
        with self._lock:
            if self._done is None:
                return None
            return next(self._chunks, None)

    def _watch(self) -> None:
        idle, most = self._caps.stream_idle_seconds, self._caps.stream_max_seconds
        while self._done is not None:
            time.sleep(min(1.0, idle / 4))
            now = time.monotonic()
            reason = (
                f"the client read nothing for {idle:g} s"
                if now - self._handed > idle
                else f"the download ran past {most:g} s; narrow the query"
                if now - self._started > most
                else None
            )
            if reason and self._lock.acquire(blocking=False):  # not while a chunk is made
                try:
                    self._cut = reason
                    self._close_locked()
                finally:
                    self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            try:
                getattr(self._chunks, "close", lambda: None)()
            finally:
                done()
