"""Issue 17's alert listen through the API (GET /v1/alerts/events, api/notices.py NoticeHub),
attacked as org b against org a (SECURITY.md items 12, 15 and 22). Each was a finding of a
review of the first design (a queue of notice payloads per stream); the stream is now only woken
by notices and reads firings through RLS (alerts.events_after).

- An org that shared one object with b (a dataset: catalog.object_grants) becomes visible to b
  in core.orgs, so b's listen subscribes to that org's alert channel although b may read none
  of its firings: every firing of a then reaches b as an `ignored` event naming the firing's id
  (how many, when, which ids). Same for a member removed from a while their stream is open.
- Junk on a channel (anyone may pg_notify it) costs a pooled connection and a transaction per
  notice per stream before the payload is even parsed: b's writer turns one NOTIFY into work on
  the API's one pool of 8, shared by every org, uncharged to any rate limit.
- b, who sees a's org id once a shares anything with it, floods a's channel from b's own login
  role: a's stream's queue (1000) fills and a's real firings are dropped.
- A stream nobody reads keeps up to 1000 whole payloads (8 KB each): ~8 MB per stream, two per
  user, no cap per org.
- The hub is one thread for every org: 400,000 notices b sends on its own channel delay a's
  firings by seconds (linear in the flood; no org can be slowed by another's notices).
- The hub's LISTEN backend killed: the hub connects again, but notices sent meanwhile are lost
  and the stream, which promised it "cannot miss an event", says nothing of it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from cryptography.fernet import Fernet
from litestar import Litestar

from api.app import create_app
from api.auth import Verifier
from chainlake.client import Client
from chainlake.local.localpg import free_port
from chainlake.storage import LocalStore
from tests.integration.conftest import token
from tests.integration.test_api_alert_events import Listener
from tests.runtime import wait_for
from tests.security.test_l3_notify_payload import _firing
from tests.tenants import Tenants


@contextmanager
def served(tenants: Tenants, tmp_path: Path) -> Iterator[tuple[str, Litestar]]:
    """The API on a free port (as tests/integration/conftest.serve_api), and its app, whose
    pool and notice hub the tests look at."""
    home = tmp_path / "home"
    app = create_app(
        tenants.cluster.url(tenants.database, "chainlake_api"),
        Fernet.generate_key(),
        home,
        LocalStore(tmp_path / "store"),
        Verifier(home / "dev-issuer"),
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, timeout=20)
    try:
        yield f"http://127.0.0.1:{server.config.port}", app
    finally:
        server.should_exit = True
        thread.join(10)


def _channel(admin: psycopg.Connection[Any], org_id: str) -> str:
    (channel,) = admin.execute("SELECT alerts.channel_name(%s)", (org_id,)).fetchone() or ("",)
    return str(channel)


def test_an_org_that_shared_one_dataset_with_b_is_not_heard_on_bs_listen(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """a shares one dataset with b (an object grant, no read of a's firings). b's reader listens
    to "their orgs": a's firings must not reach b in any form (not even as `ignored` naming the
    firing id), and b's stream must not list a among the orgs it listens to."""
    org_a, org_b = tenants.org_ids["a"], tenants.org_ids["b"]
    admin.execute(
        "INSERT INTO catalog.object_grants (org_id, object_kind, object_id, grantee_org_id) "
        "VALUES (%s, 'dataset', (SELECT min(id::text)::uuid FROM catalog.datasets "
        "WHERE org_id = %s), %s)",
        (org_a, org_a, org_b),
    )
    bob = Client(api, token(tmp_path, tenants.user("b", "reader")))
    ann = Client(api, token(tmp_path, tenants.user("a", "reader")))
    theirs = Listener(bob, None, timeout=15)
    mine = Listener(ann, "a", timeout=15)
    assert wait_for(lambda: theirs.kinds("listening") and mine.kinds("listening"), timeout=20)

    secret = _firing(admin, org_a, "rule_a_seed", "secret")
    admin.execute("SELECT alerts.announce(%s, 'fired')", (secret,))
    assert wait_for(lambda: mine.kinds("fired"), timeout=20), mine.events  # a hears it
    for listener in (theirs, mine):
        listener.thread.join(timeout=40)
    heard = json.dumps(theirs.events)
    assert secret not in heard, f"b heard of a's firing: {theirs.kinds('ignored')}"
    assert theirs.kinds("listening") == [{"orgs": ["b"]}], theirs.kinds("listening")


def test_a_member_removed_from_a_hears_nothing_more_of_a_on_an_open_stream(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """SECURITY.md item 12 (revocable facts read from tables): a's writer opens a listen, then is
    removed from a. a's later firings must not reach them, not even as firing ids."""
    org_a = tenants.org_ids["a"]
    leaver = tenants.user("a", "writer")
    ann = Client(api, token(tmp_path, tenants.user("a", "reader")))
    gone = Client(api, token(tmp_path, leaver))
    theirs = Listener(gone, "a", timeout=15)
    mine = Listener(ann, "a", timeout=15)
    assert wait_for(lambda: theirs.kinds("listening") and mine.kinds("listening"), timeout=20)
    admin.execute(
        "DELETE FROM core.memberships WHERE user_id = %s AND org_id = %s", (leaver.id, org_a)
    )
    later = _firing(admin, org_a, "rule_a_seed", "later")
    admin.execute("SELECT alerts.announce(%s, 'fired')", (later,))
    assert wait_for(lambda: mine.kinds("fired"), timeout=20), mine.events
    for listener in (theirs, mine):
        listener.thread.join(timeout=40)
    assert later not in json.dumps(theirs.events), theirs.kinds("ignored")


def test_junk_notices_cost_no_pooled_connection(
    tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """b's writer NOTIFYs 300 junk payloads on b's own channel while b's reader listens: each is
    `ignored`, but none should take one of the pool's 8 connections (shared by all orgs) and a
    transaction; today each one does, per listening stream, charged to nobody."""
    junk = 300
    with served(tenants, tmp_path) as (url, app):
        bob = Client(url, token(tmp_path, tenants.user("b", "reader")))
        theirs = Listener(bob, "b", timeout=30)
        assert wait_for(lambda: theirs.kinds("listening"), timeout=20)
        before = app.state.pool.get_stats().get("requests_num", 0)
        with tenants.login(tenants.user("b", "writer")) as evil:
            evil.execute(
                "SELECT pg_notify(%s, 'junk ' || i) FROM generate_series(1, %s) i",
                (_channel(admin, tenants.org_ids["b"]), junk),
            )
        time.sleep(2.0)  # the junk woke the stream; what it cost is counted below
        assert theirs.kinds("fired", "retracted") == [], "junk shows nothing"
        taken = app.state.pool.get_stats().get("requests_num", 0) - before
        theirs.thread.join(timeout=60)
    assert taken < junk // 10, f"{junk} junk notices took {taken} pooled connections"


def test_notices_sent_while_the_hub_reconnects_are_not_lost_silently(
    tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """The hub's LISTEN backend is terminated (a failover, an operator, idle timeouts). The hub
    connects again and later firings arrive (that holds); a firing announced before it listens
    again is lost, and the stream, which said `listening` ("cannot miss an event"), must at
    least say so (a `dropped` count, or an event telling the caller to catch up)."""
    org_a = tenants.org_ids["a"]
    with served(tenants, tmp_path) as (url, _app):
        ann = Client(url, token(tmp_path, tenants.user("a", "reader")))
        mine = Listener(ann, "a", timeout=20)
        assert wait_for(lambda: mine.kinds("listening"), timeout=20)
        hub_backend = (
            "SELECT pid FROM pg_stat_activity WHERE usename = 'chainlake_api' "
            "AND query ILIKE 'LISTEN%%'"
        )
        (pid,) = admin.execute(hub_backend).fetchone() or (0,)
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        lost = _firing(admin, org_a, "rule_a_seed", "lost")
        admin.execute("SELECT alerts.announce(%s, 'fired')", (lost,))
        assert wait_for(
            lambda: (admin.execute(hub_backend).fetchone() or (pid,))[0] != pid, timeout=20
        ), "the hub listens again"
        time.sleep(0.5)
        after = _firing(admin, org_a, "rule_a_seed", "after")
        admin.execute("SELECT alerts.announce(%s, 'fired')", (after,))
        assert wait_for(lambda: len(mine.kinds("fired")) == 2, timeout=20), mine.events
        mine.thread.join(timeout=40)
    fired = [e["firing"] for e in mine.kinds("fired")]
    assert after in fired, "a firing after the reconnect arrives"
    told = lost in fired or any(e.get("dropped") for e in mine.kinds("timeout", "expired"))
    told = told or any(kind not in ("listening", "fired", "timeout") for kind, _ in mine.events)
    assert told, f"firing {lost} was lost and the stream said nothing: {mine.events}"


@pytest.mark.parametrize("role", ["reader", "writer"])
def test_b_cannot_listen_to_a_by_any_spelling(
    api: str, tenants: Tenants, tmp_path: Path, role: str
) -> None:
    """Holds: b's reader and writer get 404 or 400 for a's org however it is spelled."""
    bob = Client(api, token(tmp_path, tenants.user("b", role)))
    for spelled in ("a", "A", " a", "a ", tenants.org_ids["a"], "a,b", "%61"):
        with pytest.raises(Exception) as caught:
            next(bob.listen_alerts(org=spelled, timeout=2))
        assert type(caught.value).__name__ in ("NotFound", "InvalidInput"), (spelled, caught.value)


def test_b_flooding_as_channel_does_not_cost_a_its_firings(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """a shared one dataset with b, so b sees a's org id (core.orgs) and so a's channel name.
    b's writer floods that channel with junk from their own login role; a firing of a that
    follows must still reach a's listener (today the junk fills its queue of 1000 and the real
    firing is dropped: a's alerting is b's to silence)."""
    org_a, org_b = tenants.org_ids["a"], tenants.org_ids["b"]
    admin.execute(
        "INSERT INTO catalog.object_grants (org_id, object_kind, object_id, grantee_org_id) "
        "VALUES (%s, 'dataset', (SELECT min(id::text)::uuid FROM catalog.datasets "
        "WHERE org_id = %s), %s)",
        (org_a, org_a, org_b),
    )
    ann = Client(api, token(tmp_path, tenants.user("a", "reader")))
    mine = Listener(ann, "a", timeout=30)
    assert wait_for(lambda: mine.kinds("listening"), timeout=20)
    with tenants.login(tenants.user("b", "writer")) as evil:
        (seen,) = evil.execute("SELECT id::text FROM core.orgs WHERE name = 'a'").fetchone() or (
            "",
        )
        channel = "alerts_" + seen.replace("-", "")
        evil.execute(
            "SELECT pg_notify(%s, 'junk ' || i) FROM generate_series(1, 5000) i", (channel,)
        )
    real = _firing(admin, org_a, "rule_a_seed", "drowned")
    admin.execute("SELECT alerts.announce(%s, 'fired')", (real,))
    mine.thread.join(timeout=60)
    assert real in [e["firing"] for e in mine.kinds("fired")], mine.events[-2:]


def test_a_stream_that_is_not_read_holds_little_memory(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """A subscription nobody reads (a stream whose client stopped reading) must not keep what was
    sent to its channel: b's writer sends 1100 payloads of 7900 bytes; the subscription is woken
    and holds nothing of them (a wake-up carries no payload)."""
    from api.notices import NoticeHub

    channel = _channel(admin, tenants.org_ids["b"])
    hub = NoticeHub(tenants.cluster.url(tenants.database, "chainlake_api"))

    async def fill() -> set[str]:
        subscription = hub.subscribe([channel])
        await asyncio.wait_for(subscription.ready.wait(), 10)
        subscription.wake.clear()
        with tenants.login(tenants.user("b", "writer")) as evil:
            evil.execute(
                "SELECT pg_notify(%s, repeat('x', 7900) || i) FROM generate_series(1, 1100) i",
                (channel,),
            )
        await asyncio.wait_for(subscription.wake.wait(), 10)
        return set(vars(subscription))

    try:
        held = asyncio.run(fill())
    finally:
        hub.close()
    assert held == {"channels", "loop", "wake", "ready"}, f"a subscription holds {held}"


def test_a_flood_on_bs_own_channel_does_not_delay_as_firings(
    tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """SECURITY.md item 22 (shared workers): the hub is one thread and one connection for every
    org. b's writer sends 400,000 notices on b's own channel (one statement, b's right) while b
    listens twice; a firing of a announced just after must still reach a's listener within a few
    seconds, not after the hub has handed b's flood to b's streams."""
    with served(tenants, tmp_path) as (url, _app):
        bob = Client(url, token(tmp_path, tenants.user("b", "reader")))
        ann = Client(url, token(tmp_path, tenants.user("a", "reader")))
        theirs = [Listener(bob, "b", timeout=60) for _ in range(2)]
        mine = Listener(ann, "a", timeout=60)
        assert wait_for(lambda: all(s.kinds("listening") for s in (*theirs, mine)), timeout=20)
        with tenants.login(tenants.user("b", "writer")) as evil:
            evil.execute(
                "SELECT pg_notify(%s, 'junk ' || i) FROM generate_series(1, 400000) i",
                (_channel(admin, tenants.org_ids["b"]),),
            )
        real = _firing(admin, tenants.org_ids["a"], "rule_a_seed", "late")
        admin.execute("SELECT alerts.announce(%s, 'fired')", (real,))
        announced = time.monotonic()
        assert wait_for(lambda: mine.kinds("fired"), timeout=60), mine.events
        late = time.monotonic() - announced
        for listener in (*theirs, mine):
            listener.thread.join(timeout=90)
    assert late < 10, f"a's firing reached a {late:.1f} s late, behind b's flood"
