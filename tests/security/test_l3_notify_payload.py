"""L3: anyone can `pg_notify` an org's alert channel (SECURITY.md item 15); a payload that was
not JSON crashed acme's `chainlake alert listen`.

Now what `alert listen` runs (chainlake.alerts.notices.follow) takes a payload only in the
platform's exact shape, reads the firing it names through RLS by its id, shows a retraction only
of a retracted firing (evil can replay what it overheard, or forge one), and each event once;
anything else is ignored with a note on stderr, never a crash."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import psycopg

from chainlake.alerts.notices import follow, listen
from tests.tenants import Tenants

FIRING = (
    "INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, block_hash, "
    "match_key, dedup_value) SELECT org_id, id, 1, 1, 1, '\\x01', %s, %s FROM alerts.rules "
    "WHERE org_id = %s AND name = %s RETURNING id"
)


def _firing(admin: psycopg.Connection[Any], org_id: str, rule: str, key: str) -> str:
    row = admin.execute(FIRING, (key, key, org_id, rule)).fetchone()
    assert row is not None
    return str(row[0])


def test_junk_and_forgeries_on_an_orgs_alert_channel_are_ignored_and_real_events_arrive(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    org_a, org_b = tenants.org_ids["a"], tenants.org_ids["b"]
    (channel,) = admin.execute("SELECT alerts.channel_name(%s)", (org_a,)).fetchone() or ("",)
    real = _firing(admin, org_a, "rule_a_seed", "real")
    later = _firing(admin, org_a, "rule_a_seed", "later")
    evils_own = _firing(admin, org_b, "rule_b_seed", "evil")
    shown: list[dict[str, Any]] = []
    notes: list[str] = []
    with (
        tenants.login(tenants.user("a", "reader")) as mine,
        tenants.login(tenants.user("b", "writer")) as evil,
    ):
        listen(mine, [channel])

        def send(payload: str) -> None:
            evil.execute("SELECT pg_notify(%s, %s)", (channel, payload))

        junk = [
            "not json",
            "",
            "null",
            '"a string"',
            "{}",
            "[" * 3000 + "]" * 3000,
            json.dumps({"firing": "not-a-uuid", "event": "fired"}),
            json.dumps({"firing": 5, "event": "fired"}),
            json.dumps({"firing": real, "event": "exploded"}),
            json.dumps({"firing": real, "event": "fired", "extra": "\x1b[2J"}),
            json.dumps({"firing": str(uuid.uuid4()), "event": "fired"}),
            json.dumps({"firing": evils_own, "event": "fired"}),
        ]
        for payload in junk:
            send(payload)
        admin.execute("SELECT alerts.announce(%s, 'fired')", (real,))
        send(json.dumps({"firing": real, "event": "retracted"}))  # it is not retracted
        send(json.dumps({"firing": real, "event": "fired"}))  # a replay of what evil overheard
        admin.execute("SELECT alerts.announce(%s, 'fired')", (later,))
        seen = follow(mine, shown.append, notes.append, count=2, deadline=time.monotonic() + 30)
        assert seen == 2
        admin.execute("UPDATE alerts.firings SET retracted_at = now() WHERE id = %s", (real,))
        admin.execute("SELECT alerts.announce(%s, 'retracted')", (real,))
        seen = follow(mine, shown.append, notes.append, count=1, deadline=time.monotonic() + 30)
        assert seen == 1
    assert [(e["event"], e["firing"], e["org"], e["rule"]) for e in shown] == [
        ("fired", real, "a", "rule_a_seed"),
        ("fired", later, "a", "rule_a_seed"),
        ("retracted", real, "a", "rule_a_seed"),
    ]
    assert len(notes) == len(junk) + 2, notes
    assert all(channel in n and "\x1b" not in n for n in notes), notes
