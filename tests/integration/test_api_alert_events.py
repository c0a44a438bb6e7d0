"""`chainlake alert listen` through the API: GET /v1/alerts/events streams an org's firings and
retractions as server-sent events, read through RLS as the caller, woken by one LISTEN
connection of the API process however many streams are open. Forged and junk notices on the
org's channel (anyone may `pg_notify` it, SECURITY.md item 15) only wake the stream: they show
nothing; another org's member cannot listen to the org, and hears nothing of it on their own
stream."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.client import Client
from chainlake.errors import InvalidInput, NotFound, QuotaExceeded
from tests.integration.conftest import token
from tests.runtime import scalar, wait_for
from tests.security.test_l3_notify_payload import _firing
from tests.tenants import Tenants


class Listener:
    """A listen stream read on a thread: its events, and whether it said `listening`."""

    def __init__(self, client: Client, org: str | None, timeout: int = 60) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._read, args=(client, org, timeout))
        self.thread.start()

    def _read(self, client: Client, org: str | None, timeout: int) -> None:
        try:
            for kind, data in client.listen_alerts(org=org, timeout=timeout):
                self.events.append((kind, data))
        except Exception as exc:  # kept for the test to assert on
            self.error = exc

    def kinds(self, *wanted: str) -> list[dict[str, Any]]:
        return [data for kind, data in self.events if kind in wanted]


def test_firings_stream_to_the_orgs_listeners_and_forgeries_are_ignored(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    ann = Client(api, token(tmp_path, tenants.user("a", "reader")))
    bob = Client(api, token(tmp_path, tenants.user("b", "admin")))
    org_a, org_b = tenants.org_ids["a"], tenants.org_ids["b"]
    (channel,) = admin.execute("SELECT alerts.channel_name(%s)", (org_a,)).fetchone() or ("",)
    evils_own = _firing(admin, org_b, "rule_b_seed", "evil")
    before = _firing(admin, org_a, "rule_a_seed", "before")  # fired before anyone listened

    with pytest.raises(NotFound, match="unknown org"):
        next(bob.listen_alerts(org="a", timeout=5))
    for bad, field in (({"timeout": 0}, "timeout"), ({"org": "../a"}, "org")):
        with pytest.raises(InvalidInput, match=field):
            bob.request("GET", "/v1/alerts/events", params=bad)

    mine = Listener(ann, "a", timeout=20)
    theirs = Listener(bob, None, timeout=20)
    assert wait_for(lambda: mine.kinds("listening") and theirs.kinds("listening"), timeout=20)
    assert mine.kinds("listening") == [{"orgs": ["a"]}]
    listening = scalar(
        admin,
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'chainlake_api' "
        "AND query ILIKE 'LISTEN%%'",
    )
    assert listening == 1, "one LISTEN connection for both streams"
    second = Listener(ann, None, timeout=5)
    assert wait_for(lambda: second.kinds("listening"), timeout=20)
    with pytest.raises(QuotaExceeded, match="alert listens"):  # ann holds at most two
        next(ann.listen_alerts(timeout=5))
    second.thread.join(timeout=30)
    assert second.events[-1][0] == "timeout"

    with tenants.login(tenants.user("b", "writer")) as evil:
        for payload in (
            "not json",
            json.dumps({"firing": str(uuid.uuid4()), "event": "fired"}),
            json.dumps({"firing": evils_own, "event": "fired"}),
            json.dumps({"firing": before, "event": "retracted"}),  # it is not retracted
        ):
            evil.execute("SELECT pg_notify(%s, %s)", (channel, payload))
    time.sleep(1.0)  # the stream woke, read, and found nothing new
    assert mine.kinds("fired", "retracted") == [], mine.events
    real = _firing(admin, org_a, "rule_a_seed", "real")
    admin.execute("SELECT alerts.announce(%s, 'fired')", (real,))
    assert wait_for(lambda: mine.kinds("fired"), timeout=20), mine.events
    admin.execute("UPDATE alerts.firings SET retracted_at = now() WHERE id = %s", (real,))
    admin.execute("SELECT alerts.announce(%s, 'retracted')", (real,))
    assert wait_for(lambda: mine.kinds("retracted"), timeout=20), mine.events

    fired, retracted = mine.kinds("fired")[0], mine.kinds("retracted")[0]
    assert (fired["firing"], fired["org"], fired["rule"]) == (real, "a", "rule_a_seed")
    assert retracted["firing"] == real
    assert [kind for kind, _ in mine.events][1:3] == ["fired", "retracted"], mine.events
    assert all("\x1b" not in json.dumps(e) for e in mine.events)
    assert theirs.kinds("fired", "retracted") == [], "b hears nothing of a's firings"
    for listener in (mine, theirs):
        listener.thread.join(timeout=40)
        assert listener.error is None, listener.error
        assert listener.events[-1][0] == "timeout", listener.events[-3:]
    page = ann.alert_events(org="a", after="2000-01-01T00:00:00Z")  # the same as a JSON page
    assert {(e["event"], e["firing"]) for e in page["items"]} >= {
        ("fired", real),
        ("retracted", real),
    }
    assert page["now"] and all(e["org"] == "a" for e in page["items"])
    with pytest.raises(NotFound):
        bob.alert_events(org="a")
