"""The API process's one LISTEN connection: alert notices for every open `listen` stream.

A stream subscribes to its orgs' channels (alerts.channel_name); the hub's thread LISTENs on the
union of the channels subscribed, and hands each notification to the streams of its channel, on
their event loops. One connection whatever the number of streams, so an org that opens many
listens costs the database nothing more (SECURITY.md, shared workers). A payload is only a hint
(chainlake.alerts.notices): each stream reads the firing it names through RLS as its caller.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

log = logging.getLogger("chainlake.api.notices")

QUEUE_SIZE = 1000  # notices one slow stream may have waiting; past it they are dropped, counted
POLL_SECONDS = 0.2  # how soon a new subscription's channels are LISTENed on
RETRY_SECONDS = 1.0  # after the connection broke


@dataclass(eq=False)
class Subscription:
    channels: frozenset[str]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, str]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # its channels are LISTENed on
    dropped: int = 0

    def offer(self, notice: tuple[str, str]) -> None:
        """On the subscription's loop: queue `notice`, or count it dropped when full."""
        try:
            self.queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped += 1


class NoticeHub:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, channels: list[str]) -> Subscription:
        """A subscription to `channels` for the running event loop (close it with
        `unsubscribe`); its `ready` is set once the hub listens on all of them."""
        subscription = Subscription(frozenset(channels), asyncio.get_running_loop())
        with self._lock:
            self._subscriptions.add(subscription)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alert-notices", daemon=True)
                self._thread.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    self._serve(conn)
            except psycopg.Error as exc:
                log.warning("alert notices: %s; connecting again", exc)
                self._stopping.wait(RETRY_SECONDS)

    def _serve(self, conn: psycopg.Connection[object]) -> None:
        listening: set[str] = set()
        while not self._stopping.is_set():
            with self._lock:
                subscriptions = list(self._subscriptions)
            wanted = set().union(*(s.channels for s in subscriptions))
            for channel in sorted(wanted - listening):
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            for channel in sorted(listening - wanted):
                conn.execute(sql.SQL("UNLISTEN {}").format(sql.Identifier(channel)))
            listening = wanted
            for subscription in subscriptions:
                if not subscription.ready.is_set():
                    _call(subscription, subscription.ready.set)
            # collected first: the generator holds the connection until it ends
            for notice in list(conn.notifies(timeout=POLL_SECONDS, stop_after=100)):
                for subscription in subscriptions:
                    if notice.channel in subscription.channels:
                        _call(subscription, subscription.offer, (notice.channel, notice.payload))


def _call(subscription: Subscription, function: Callable[..., None], *args: object) -> None:
    """Run `function(*args)` on the subscription's event loop (nothing if that loop is gone)."""
    with suppress(RuntimeError):
        subscription.loop.call_soon_threadsafe(function, *args)
