"""Issue 22, health and failover: live ingest reads a chain through two RPC endpoints. When the
first stops answering, ingestion goes on through the second, the system alert
rpc-endpoint-down fires and is delivered to the operator's channel; when the endpoint answers
again, the alert is cleared and the clearing is delivered the same way. Real parts: anvil, two
proxies of ours in front of it, Postgres, the delivery worker, a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from chainlake.alerts.deliver import Deliverer
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from tests.chainkit import chain_config, running_ingest
from tests.faultyproxy import FaultyProxy
from tests.receivers import Receiver, http_receiver
from tests.runtime import wait_for
from tests.tenants import Tenants

DOWN_FOR_ALERT_S = 15  # the rule's threshold (sql/alerts/85_alerts.sql, rpc-endpoint-down)


@pytest.fixture
def node() -> Iterator[Anvil]:
    with Anvil(free_port(), block_time=0.4) as anvil:
        yield anvil


@pytest.fixture
def delivering(tenants: Tenants) -> Iterator[None]:
    """The delivery worker, evaluating the system rules every second."""
    url = tenants.cluster.url(tenants.database, "chainlake_alerts")
    deliverer = Deliverer(url, Fernet.generate_key(), retry_seconds=(0,), log=lambda _m: None)
    stop = threading.Event()
    thread = threading.Thread(
        target=deliverer.run, args=(stop,), kwargs={"system_every_s": 1.0}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(20)


def _blocks(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute("SELECT count(*) FROM chain.blocks WHERE chain_id = 31337").fetchone()
    return int(row[0]) if row else 0


def _flowing(admin: psycopg.Connection[Any], what: str, said: list[str]) -> None:
    """New blocks are stored within a bounded wait (the node mines every 0.4 s)."""
    before = _blocks(admin)
    try:
        wait_for(lambda: _blocks(admin) >= before + 3, timeout=60, every=0.2)
    except AssertionError:
        raise AssertionError(
            f"ingestion stopped {what}: {_blocks(admin)} blocks; ingest said {said[-10:]}"
        ) from None


def _events(web: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in web.posts("/ops")]


def _event(web: Receiver, kind: str, timeout: float) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((e for e in _events(web) if e["event"] == kind), None)

    try:
        return wait_for(found, timeout=timeout, every=0.25)
    except AssertionError:
        raise AssertionError(f"no {kind} delivery; the receiver got {_events(web)}") from None


def test_a_failing_endpoint_is_failed_over_alerted_and_cleared_when_it_returns(
    tenants: Tenants, admin: psycopg.Connection[Any], node: Anvil, delivering: None
) -> None:
    admin.execute("UPDATE alerts.rules SET enabled = false")  # the tenants' seed rules
    admin.execute("SELECT core.set_system_org('c')")
    admin.execute("SELECT alerts.install_system_rules()")
    with (
        http_receiver(Receiver()) as web,
        FaultyProxy(node.url) as first,
        FaultyProxy(node.url) as second,
    ):
        admin.execute("SELECT core.allow_egress(%s)", (web.address,))
        admin.execute(
            "INSERT INTO alerts.channels (org_id, name, kind, target) "
            "VALUES (%s, 'ops', 'webhook', %s)",
            (tenants.org_ids["c"], f"{web.url}/ops"),
        )
        admin.execute("UPDATE alerts.rules SET channels = '{ops}' WHERE name = 'rpc-endpoint-down'")
        config = chain_config(first.url, rpc_urls=[first.url, second.url])
        ingest_url = tenants.cluster.url(tenants.database, "chainlake_ingest")
        said: list[str] = []
        with running_ingest(config, ingest_url, log=said.append):
            _flowing(admin, "before the fault", said)
            assert first.faults.calls > 0 and second.faults.calls == 0, "the first is preferred"

            first.faults.status, first.faults.fail_next = 503, 10**9  # the first stops answering
            went_down = time.monotonic()
            _flowing(admin, "after the first endpoint failed", said)
            assert second.faults.calls > 0, "traffic went to the second endpoint"
            assert any("127.0.0.1" in line and "fails" in line for line in said), said
            fired = _event(web, "fired", timeout=DOWN_FOR_ALERT_S + 45)
            assert time.monotonic() - went_down >= DOWN_FOR_ALERT_S - 1, "fired before 15 s"
            assert fired["rule"] == "rpc-endpoint-down" and fired["org"] == "c", fired
            subject = fired["values"]["subject"]
            assert first.url.removeprefix("http://") in subject and "endpoint 1" in subject
            assert fired["values"]["value"] >= DOWN_FOR_ALERT_S - 1, fired
            assert [e["event"] for e in _events(web)] == ["fired"], "one alert, not one a second"

            first.faults.fail_next = 0  # it answers again
            cleared = _event(web, "cleared", timeout=60)
            assert cleared["firing_id"] == fired["firing_id"], (cleared, fired)
            _flowing(admin, "after the endpoint returned", said)
    state = admin.execute(
        "SELECT cleared_at IS NOT NULL FROM alerts.firings WHERE id = %s", (fired["firing_id"],)
    ).fetchone()
    assert state == (True,)
    assert [e["event"] for e in _events(web)] == ["fired", "cleared"]


def test_the_endpoints_health_is_the_operators_alone(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """No tenant reads which RPC endpoints the platform uses, nor reports their health."""
    admin.execute("SELECT chain.register_chain(5, 'five', 0, 64, 100)")
    ingest_url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    with psycopg.connect(ingest_url, autocommit=True) as ingest:
        reported = ingest.execute(
            "SELECT chain.report_rpc_health(5, %s)",
            (json.dumps([{"address": "10.0.0.7:8545", "down_seconds": 3, "reason": "HTTP 503"}]),),
        ).fetchone()
    assert reported == (1,)
    for role in ("reader", "writer", "admin"):
        for statement in (
            "SELECT * FROM chain.rpc_health",
            "SELECT chain.report_rpc_health(5, '[]')",
        ):
            with (
                tenants.login(tenants.user("a", role)) as conn,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                conn.execute(statement).fetchall()
    with psycopg.connect(ingest_url, autocommit=True) as ingest:
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="an array of at most 64"):
            ingest.execute("SELECT chain.report_rpc_health(5, '{}')")
        row = admin.execute("SELECT address, reason FROM chain.rpc_health").fetchone()
    assert row == ("10.0.0.7:8545", "HTTP 503"), "a bad report changes nothing"
