"""H5, alert delivery fair per org (SECURITY.md item 22): one org's endpoint that never answers,
flooded with alerts, never delays another org's alert. Senders work concurrently with a cap per
org and short timeouts, and a slow org's tasks never stand at the queue's head."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from chainlake.alerts.deliver import PER_ORG_SENDERS, Deliverer
from tests.receivers import Receiver, http_receiver, tcp_server
from tests.runtime import wait_for
from tests.security.egress_kit import allow
from tests.tenants import Tenants

FLOOD = 200


def firings(admin: psycopg.Connection[Any], org_id: str, channel: str, count: int) -> None:
    """`count` firings of one rule of the org, each announced: a delivery task per firing."""
    rule = admin.execute(
        "INSERT INTO alerts.rules (org_id, name, dataset, condition, channels, enabled) "
        "VALUES (%s, %s, 'chain.blocks', 'true', %s, false) RETURNING id",
        (org_id, f"every-{channel}", [channel]),
    ).fetchone()
    assert rule is not None
    admin.execute(
        "WITH f AS (INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, "
        "to_block, block_hash, match_key, dedup_value) "
        "SELECT %s, %s, 1, n, n, '\\x01', n::text, n::text FROM generate_series(1, %s) n "
        "RETURNING id) SELECT count(alerts.announce(f.id, 'fired')) FROM f",
        (org_id, rule[0], count),
    )


def test_acme_is_delivered_within_a_second_while_evil_floods_a_black_hole(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("UPDATE alerts.rules SET enabled = false")
    acme, evil = tenants.org_ids["a"], tenants.org_ids["b"]
    with tcp_server(None) as hole, http_receiver(Receiver()) as web:
        port = int(web.url.rsplit(":", 1)[1])
        allow(admin, f"127.0.0.1:{hole.port}", f"127.0.0.1:{port}")
        admin.execute(
            "INSERT INTO alerts.channels (org_id, name, kind, target) VALUES "
            "(%s, 'hole', 'webhook', %s), (%s, 'ops', 'webhook', %s)",
            (evil, f"http://127.0.0.1:{hole.port}/", acme, f"{web.url}/ops"),
        )
        firings(admin, evil, "hole", FLOOD)
        url = tenants.cluster.url(tenants.database, "chainlake_alerts")
        stop = threading.Event()
        worker = Deliverer(url, b"", log=lambda _m: None)
        thread = threading.Thread(
            target=worker.run, args=(stop,), kwargs={"poll_seconds": 0.2}, daemon=True
        )
        thread.start()
        try:
            wait_for(lambda: hole.open_now >= 1, timeout=10)  # evil's sends hang in the hole
            started = time.monotonic()
            firings(admin, acme, "ops", 1)
            wait_for(lambda: web.posts("/ops"), timeout=10)
            took = time.monotonic() - started
            evil_waiting = admin.execute(
                "SELECT count(*) FROM alerts.deliveries WHERE org_id = %s AND state = 'pending'",
                (evil,),
            ).fetchone()
        finally:
            stop.set()
            thread.join(30)
        assert not thread.is_alive(), "the delivery worker did not stop"
        assert took < 1.0, f"acme's alert took {took:.2f} s behind evil's flood"
        assert evil_waiting is not None and evil_waiting[0] > FLOOD // 2, "the flood was real"
        assert hole.most_open <= PER_ORG_SENDERS, "evil held more senders than its share"
    errors = admin.execute(
        "SELECT DISTINCT last_error FROM alerts.deliveries WHERE org_id = %s AND attempts > 0",
        (evil,),
    ).fetchall()
    assert errors in ([], [("timed out",)]), errors
