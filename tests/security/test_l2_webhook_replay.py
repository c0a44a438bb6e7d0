"""L2: `X-Chainlake-Delivery` was not covered by the webhook signature, so one captured request
replayed under new delivery ids queued new runs within the 5-minute window. The signature now
covers the timestamp, the delivery id and the body; a delivery id already received is refused
(409) and queues nothing; alert webhooks are signed the same way."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from chainlake.alerts.deliver import Alert, Channel, send_webhook
from chainlake.outbound import Policy
from chainlake.secrets import encrypt, signature
from tests.integration.conftest import serve_api
from tests.receivers import Receiver, http_receiver
from tests.runtime import TEST_JOBS, apply, runs
from tests.tenants import Tenants

SECRET = "acme-webhook-secret"


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def signed(body: bytes, delivery: str, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "X-Chainlake-Timestamp": stamp,
        "X-Chainlake-Delivery": delivery,
        "X-Chainlake-Signature": signature(secret, stamp, delivery, body),
    }


def test_the_signature_string_is_timestamp_delivery_body() -> None:
    expected = hmac.new(b"k", b"1700000000.d-1.{}", hashlib.sha256).hexdigest()
    assert signature("k", "1700000000", "d-1", b"{}") == "sha256=" + expected


def test_a_captured_delivery_replays_into_no_new_run(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    key = Fernet.generate_key()
    acme = tenants.org_ids["a"]
    apply(tenants, tenants.user("a", "writer"), TEST_JOBS / "behave.yaml", activation="webhook")
    with tenants.login(tenants.user("a", "admin")) as conn:
        conn.execute(
            "SELECT jobs.set_webhook_secret(%s, 'behave', %s)", (acme, encrypt(key, SECRET))
        )
    body = json.dumps({"event": "push"}).encode()
    with serve_api(tenants, tmp_path, secret_key=key) as api:
        url = f"{api}/v1/webhooks/{acme}/behave"
        captured = signed(body, "d-1")
        status, answer = post(url, body, captured)
        assert status == 202, answer
        # the attacker's replays: new delivery ids under the captured signature, and the
        # captured request itself
        for other in ("d-2", "D-1", "", "x" * 40):
            replay = {**captured, "X-Chainlake-Delivery": other}
            if not other:
                del replay["X-Chainlake-Delivery"]
            assert post(url, body, replay)[0] == 401, other
        status, again = post(url, body, captured)
        assert status == 409, again
        assert "d-1" in again["detail"] and "already" in again["detail"]
        # a fresh, correctly signed delivery id still queues its run
        assert post(url, body, signed(body, "d-3"))[0] == 202
    assert [r["trigger"]["delivery"] for r in runs(admin, acme)] == ["d-1", "d-3"]


def test_alert_webhooks_sign_their_delivery_id() -> None:
    task = {
        "event": "fired", "org": "a", "rule": "whale", "severity": "info",
        "firing_id": "f-1", "delivery_id": 77, "chain_id": 1, "from_block": 1, "to_block": 1,
        "block_hash": b"\x01", "match_key": "k", "vals": {}, "fired_at": datetime.now(UTC),
    }  # fmt: skip
    with http_receiver(Receiver()) as web:
        # no refused ranges: this test is about the signature, not where it may go
        channel = Channel(f"{web.url}/hook", {}, "hook-secret", Policy(ranges=()))
        send_webhook(Alert(task), channel)
    (hook,) = web.posts("/hook")
    stamp, delivery = hook.headers["X-Chainlake-Timestamp"], hook.headers["X-Chainlake-Delivery"]
    assert delivery == "77"
    assert hook.headers["X-Chainlake-Signature"] == signature(
        "hook-secret", stamp, delivery, hook.body
    )
