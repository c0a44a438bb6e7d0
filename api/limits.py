"""The query service's caps in the API process: how many queries run at once per user and in
the process (over either: 429 with Retry-After, nothing run), and how many bytes a JSON page
may hold (over it: 413 naming the streamed formats). With DuckDB's own `memory_limit` per
session, they bound the process's memory: about per_process x (memory_limit + json_max_bytes).

Set with CHAINLAKE_QUERY_PER_USER (default 2), CHAINLAKE_QUERY_PER_PROCESS (8) and
CHAINLAKE_QUERY_JSON_MAX_BYTES (16 MiB)."""

from __future__ import annotations

import os
import threading
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
    per_process: int = 8
    json_max_bytes: int = JSON_MAX_BYTES

    @classmethod
    def from_environment(cls) -> QueryCaps:
        return cls(
            per_user=_positive("CHAINLAKE_QUERY_PER_USER", cls.per_user),
            per_process=_positive("CHAINLAKE_QUERY_PER_PROCESS", cls.per_process),
            json_max_bytes=_positive("CHAINLAKE_QUERY_JSON_MAX_BYTES", cls.json_max_bytes),
        )


class QueryGate:
    """Counts the queries running (from execution to the last byte sent) per user and in all."""

    def __init__(self, caps: QueryCaps) -> None:
        self.caps = caps
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    def enter(self, user: str) -> Callable[[], None]:
        """A slot for one query of `user`, or QuotaExceeded; call the answer (once or more) to
        give the slot back."""
        with self._lock:
            if self._running[user] >= self.caps.per_user:
                raise QuotaExceeded(
                    f"too many queries of yours at once: {self.caps.per_user} at a time per user",
                    "wait for one to finish (a download holds its slot until it is read)",
                    RETRY_AFTER_S,
                )
            if self._running.total() >= self.caps.per_process:
                raise QuotaExceeded(
                    f"the query service is busy: {self.caps.per_process} at a time per API process",
                    "try again in a moment",
                    RETRY_AFTER_S,
                )
            self._running[user] += 1
        given_back = threading.Event()

        def leave() -> None:
            with self._lock:
                if not given_back.is_set():
                    given_back.set()
                    self._running[user] -= 1
                    if self._running[user] <= 0:
                        del self._running[user]

        return leave


class Held(AsyncIterator[bytes]):
    """An answer's chunks, each made in a worker thread, that run `done` once: when they end or
    fail, when their request is cancelled (a client gone mid-download), or when they are
    dropped unread. An async iterator without a generator of its own, so that nothing keeps it
    in a reference cycle: dropped, it is gone at once, its slot with it."""

    def __init__(self, chunks: Iterator[bytes], done: Callable[[], None]) -> None:
        self._chunks = chunks
        self._done: Callable[[], None] | None = done

    def __aiter__(self) -> Held:
        return self

    async def __anext__(self) -> bytes:
        if self._done is None:
            raise StopAsyncIteration
        try:  # not abandoned on cancel: the thread's next() ends before close() runs
            chunk = await anyio.to_thread.run_sync(next, self._chunks, None)
        except BaseException:
            self.close()
            raise
        if chunk is None:
            self.close()
            raise StopAsyncIteration
        return chunk

    def close(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            try:
                getattr(self._chunks, "close", lambda: None)()
            finally:
                done()

    def __del__(self) -> None:
        self.close()
