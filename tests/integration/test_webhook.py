"""Webhook activation through the real API process: a signed delivery queues one run with its
payload; a bad or stale signature, an unknown job, and a replayed delivery do not."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.secrets import encrypt, load_key, signature
from tests.integration.conftest import api_process
from tests.runtime import TEST_JOBS, apply, runs, wait_for
from tests.tenants import Tenants

SECRET = "s3cret-for-tests-only"


@pytest.fixture
def api(tenants: Tenants, tmp_path: Path) -> Iterator[str]:
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    with api_process(url, tmp_path) as (base, _pid):
        yield base


def deliver(
    url: str,
    body: bytes,
    secret: str = SECRET,
    timestamp: int | None = None,
    delivery: str | None = None,
) -> tuple[int, dict[str, Any]]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-Chainlake-Timestamp": ts,
        "X-Chainlake-Signature": signature(secret, ts, delivery or "", body),
    }
    if delivery:
        headers["X-Chainlake-Delivery"] = delivery
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_a_signed_delivery_queues_one_run_with_its_payload(
    tenants: Tenants, admin: psycopg.Connection[Any], api: str, tmp_path: Path
) -> None:
    writer = tenants.user("b", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml", activation="webhook")
    org = tenants.org_ids["b"]
    with tenants.login(tenants.user("b", "admin")) as conn:
        conn.execute(
            "SELECT jobs.set_webhook_secret(%s, 'behave', %s)",
            (org, encrypt(load_key(tmp_path), SECRET)),
        )
    url = f"{api}/v1/webhooks/{org}/behave"
    body = json.dumps({"event": "push", "n": 1}).encode()
    status, answer = deliver(url, body, delivery="d-1")
    assert status == 202, answer
    assert deliver(url, body, delivery="d-1")[0] == 409  # a replay queues nothing
    for bad in (
        deliver(url, body, secret="wrong"),
        deliver(url, body, timestamp=int(time.time()) - 3600),
        deliver(f"{api}/v1/webhooks/{org}/no_such_job", body),
        deliver(f"{api}/v1/webhooks/{tenants.org_ids['a']}/behave", body),
    ):
        assert bad[0] == 401, bad
    refused = deliver(url, b'{"n": "\\u0000"}')  # found by schemathesis: was a 500
    assert refused[0] == 400 and "Unicode" in refused[1]["detail"], refused
    (run,) = runs(admin, org)
    assert str(run["id"]) == answer["run_id"]
    assert run["trigger"] == {"kind": "webhook", "delivery": "d-1"}
    assert run["params"] == {"payload": {"event": "push", "n": 1}}
    secrets_seen = wait_for(
        lambda: admin.execute(
            "SELECT count(*) FROM audit.events WHERE action = 'webhook.secret'"
        ).fetchone()
    )
    assert secrets_seen == (1,)


def test_the_secret_is_never_readable_by_people(tenants: Tenants) -> None:
    with tenants.login(tenants.user("b", "admin")) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT secret_enc FROM jobs.webhook_secrets")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT jobs.webhook_secret(%s, 'job_b_seed')", (tenants.org_ids["b"],))


def test_only_an_admin_sets_a_webhook_secret(tenants: Tenants, tmp_path: Path) -> None:
    writer = tenants.user("b", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml", activation="webhook")
    with tenants.login(writer) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "SELECT jobs.set_webhook_secret(%s, 'behave', %s)",
            (tenants.org_ids["b"], encrypt(load_key(tmp_path), SECRET)),
        )
