"""The API process's one LISTEN connection: it wakes the `listen` streams of the channels that
had notices.

A stream subscribes to its orgs' channels (alerts.channel_name); the hub's thread LISTENs on the
union of the channels subscribed and, after each batch of notifications, wakes each
subscription one of whose channels had any: once, whatever the batch held. A notice is only a
hint that something may have changed (anyone may `pg_notify` any channel, SECURITY.md item 15):
its payload is never read here, and a woken stream reads its orgs' new firings through RLS
(alerts.events_after). So a flood of junk or forged notices costs a stream at most one read per
wake, holds no memory, takes no pooled connection, and cannot push a real firing out; and one
org's flood on its own channel costs the others a set lookup per batch. One connection whatever
the number of streams (SECURITY.md, shared workers). After the connection breaks, every stream
is woken: it reads what it may have missed while the hub was away.
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

BATCH = 1000  # notifications taken at once before the streams are woken
POLL_SECONDS = 0.2  # how soon a new subscription's channels are LISTENed on
RETRY_SECONDS = 1.0  # after the connection broke


@dataclass(eq=False)
class Subscription:
    channels: frozenset[str]
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # a channel had notices
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # its channels are LISTENed on


class NoticeHub:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, channels: list[str]) -> Subscription:
        """A subscription to `channels` for the running event loop (end it with `unsubscribe`);
        its `ready` is set once the hub listens on all of them."""
        subscription = Subscription(frozenset(channels), asyncio.get_running_loop())
        with self._lock:
            self._subscriptions.add(subscription)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="alert-notices", daemon=True)
                self._thread.start()
        return subscription

    def narrow(self, subscription: Subscription, channels: list[str]) -> None:
        """Listen for `subscription` on `channels` only from now on (orgs it may read no more)."""
        with self._lock:
            subscription.channels = frozenset(channels)

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
        gap = True  # nothing was heard before this connection: every stream looks again
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
                if gap:
                    _call(subscription, subscription.wake.set)
                if not subscription.ready.is_set():
                    _call(subscription, subscription.ready.set)
            gap = False
            # collected first: the generator holds the connection until it ends
            heard = {n.channel for n in conn.notifies(timeout=POLL_SECONDS, stop_after=BATCH)}
            if heard:
                for subscription in subscriptions:
                    if not heard.isdisjoint(subscription.channels):
                        _call(subscription, subscription.wake.set)


def _call(subscription: Subscription, function: Callable[[], object]) -> None:
    """Run `function()` on the subscription's event loop (nothing if that loop is gone)."""
    with suppress(RuntimeError):
        subscription.loop.call_soon_threadsafe(function)
