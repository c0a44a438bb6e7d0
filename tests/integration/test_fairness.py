"""One org can neither starve another nor exceed its quotas: runners take tasks round-robin
across orgs (runs.take_tasks), so a flood of org a's tasks delays org b's one task by at most
one slot; a full queue refuses new requests (429) and keeps what it had; the API rate limit
answers 429 with Retry-After and does nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.errors import QuotaExceeded, translate
from tests.integration.conftest import token
from tests.runtime import TEST_JOBS, apply, request_run, running_runner, wait_for
from tests.tenants import Tenants

FLOOD = 10_000
SLOTS = 2


def test_a_flood_from_one_org_delays_another_by_at_most_one_slot(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    for org in ("a", "b"):
        apply(tenants, tenants.user(org, "writer"), TEST_JOBS / "behave.yaml")
    admin.execute(
        'SELECT count(runs.enqueue(%s, \'behave\', \'{"do": "sleep", "seconds": 0.2}\', '
        "'{\"kind\": \"manual\"}', '[]', NULL)) FROM generate_series(1, %s)",
        (tenants.org_ids["a"], FLOOD),
    )
    with running_runner(tenants, tmp_path, concurrency=SLOTS):
        wait_for(
            lambda: (
                admin.execute(
                    "SELECT count(*) >= %s FROM runs.attempts WHERE org_id = %s",
                    (SLOTS, tenants.org_ids["a"]),
                ).fetchone()
                == (True,)
            ),
            timeout=60,
        )
        theirs = request_run(tenants, tenants.user("b", "writer"), "behave", {"do": "ok"})
        wait_for(
            lambda: (
                admin.execute(
                    "SELECT status = 'succeeded' FROM runs.runs WHERE id = %s", (theirs["id"],)
                ).fetchone()
                == (True,)
            ),
            timeout=60,
        )
    row = admin.execute(
        "SELECT r.created_at, a.started_at FROM runs.runs r JOIN runs.attempts a "
        "ON a.run_id = r.id WHERE r.id = %s",
        (theirs["id"],),
    ).fetchone()
    assert row is not None
    queued_at, started_at = row
    (ahead,) = admin.execute(
        "SELECT count(*) FROM runs.attempts WHERE org_id = %s AND started_at > %s "
        "AND started_at < %s",
        (tenants.org_ids["a"], queued_at, started_at),
    ).fetchone() or (None,)
    assert ahead is not None and ahead <= SLOTS, (
        f"{ahead} of org a's tasks started before org b's, ahead of {FLOOD} queued"
    )
    waiting = admin.execute(
        "SELECT count(*) FROM runs.runs WHERE org_id = %s AND status = 'queued'",
        (tenants.org_ids["a"],),
    ).fetchone()
    assert waiting is not None and waiting[0] > FLOOD - 100, "org a's flood is still queued"
    print(f"org b waited {(started_at - queued_at).total_seconds():.2f} s behind {FLOOD} tasks")


def test_a_full_queue_refuses_new_requests_and_keeps_what_it_has(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    apply(tenants, tenants.user("b", "writer"), TEST_JOBS / "behave.yaml")
    org_b = tenants.org_ids["b"]
    admin.execute(  # room for two more than the seeded runs
        "UPDATE core.quotas SET max_queued_tasks = 2 + (SELECT count(*) FROM runs.runs "
        "WHERE org_id = %s AND status IN ('queued', 'retrying')) WHERE org_id = %s",
        (org_b, org_b),
    )
    before = {
        r[0] for r in admin.execute("SELECT id::text FROM runs.runs WHERE org_id = %s", (org_b,))
    }
    kept = [
        str(request_run(tenants, tenants.user("b", "writer"), "behave", {})["id"]) for _ in "12"
    ]
    with pytest.raises(QuotaExceeded, match="queue quota") as refused:
        try:
            request_run(tenants, tenants.user("b", "writer"), "behave", {})
        except psycopg.Error as exc:
            raise translate(exc) from exc
    assert refused.value.retry_after == 5
    rows = admin.execute(
        "SELECT id::text FROM runs.runs WHERE org_id = %s ORDER BY created_at", (org_b,)
    ).fetchall()
    assert [r[0] for r in rows if r[0] not in before] == kept, "nothing queued, nothing lost"
    queued = admin.execute(
        "SELECT count(*) FROM pgmq.q_run_tasks WHERE message ->> 'org_id' = %s",
        (tenants.org_ids["b"],),
    ).fetchone()
    assert queued == (2,)


def _whoami(api: str, bearer: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        api + "/v1/whoami", headers={"Authorization": f"Bearer {bearer}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_the_api_rate_limit_answers_429_with_retry_after(
    api: str, tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    admin.execute(
        "UPDATE core.quotas SET api_requests_per_minute = 3 WHERE org_id = %s",
        (tenants.org_ids["b"],),
    )
    bob = token(tmp_path, tenants.user("b", "reader"))
    ann = token(tmp_path, tenants.user("a", "reader"))
    # 8 requests: even if a minute turns between two of them, at least 2 are over 3 a minute
    answers = [_whoami(api, bob) for _ in range(8)]
    refused = [(headers, body) for status, headers, body in answers if status == 429]
    assert len(refused) >= 2 and all(s in (200, 429) for s, _, _ in answers)
    headers, body = refused[0]
    assert 1 <= int(headers["retry-after"]) <= 60
    problem = json.loads(body)
    assert problem["status"] == 429 and problem["detail"] == "rate limit: 3 API requests a minute"
    assert _whoami(api, ann)[0] == 200, "org a's users are not limited by b's quota"
