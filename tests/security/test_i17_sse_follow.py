"""Issue 17's log follow (GET /v1/runs/{id}/logs?follow=true, server-sent events) and the token
that opened it (SECURITY.md item 12, stale claims). The API verifies the bearer token once, when
the stream opens, and caches its claims on the request (api/session.py `caller`); each later poll
runs on those claims for up to an hour (`timeout` <= 3600). Membership and disabled users are
read from tables on every poll and hold; the token's own expiry does not: a token that expired
(or, for an OIDC provider, was revoked) keeps receiving the run's new log events. A real run of a
real job through the API; its log events appended as the runner appends them."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from chainlake.tokens import issue_dev_token
from tests.integration.test_api_runs import behave, client
from tests.tenants import Tenants

TTL = 4  # seconds the follower's token is valid


def test_a_follow_ends_when_the_token_that_opened_it_expires(
    api: str, tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    wes = client(api, tmp_path, tenants, "a", "writer")
    wes.apply_job(org="a", definition=behave())
    run = wes.run_job(org="a", name="behave", params={"do": "sleep", "seconds": 1})
    assert run["status"] == "queued"  # no runner: it stays queued, its follow never ends
    reader = tenants.user("a", "reader")
    short = issue_dev_token(tmp_path / "home" / "dev-issuer", reader.id, reader.email, TTL)
    seen: list[str] = []

    def follow() -> None:
        with httpx.stream(
            "GET",
            f"{api}/v1/runs/{run['id']}/logs",
            params={"follow": "true", "timeout": 30},
            headers={"Authorization": f"Bearer {short}", "Accept": "text/event-stream"},
            timeout=45,
        ) as response:
            seen.append(f"status {response.status_code}")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    seen.append(line)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(TTL + 3)  # the token expired
    late = {"message": "LATE_MARKER: written after the follower's token expired"}
    admin.execute("SELECT runs.append_log(%s, 1, %s)", (run["id"], json.dumps([late])))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("LATE_MARKER" in s for s in seen):
        time.sleep(0.2)
    wes.cancel_run(run_id=run["id"])  # ends the stream either way
    thread.join(20)
    assert seen and seen[0] == "status 200", seen
    assert not any("LATE_MARKER" in s for s in seen), (
        f"an event appended {TTL + 3} s after the token's expiry reached its follower: {seen}"
    )


def test_a_dropped_follow_gives_its_slot_back(api: str, tenants: Tenants, tmp_path: Path) -> None:
    """A caller holds at most two follows; a connection the client drops (a laptop closing, a
    proxy timing out) must free its slot within a heartbeat or so, or two drops lock the caller
    out of following anything until the API restarts."""
    wes = client(api, tmp_path, tenants, "a", "writer")
    wes.apply_job(org="a", definition=behave())
    run = wes.run_job(org="a", name="behave", params={"do": "sleep", "seconds": 1})
    ann = client(api, tmp_path, tenants, "a", "reader")
    path = f"/v1/runs/{run['id']}/logs"
    asked: dict[str, str | int] = {"follow": "true", "timeout": 120}
    for _ in range(2):
        with ann.http.stream("GET", path, params=asked) as opened:
            assert opened.status_code == 200
    started = time.monotonic()
    status = 0
    while time.monotonic() - started < 40:
        with ann.http.stream("GET", path, params=asked) as again:
            status = again.status_code
        if status == 200:
            break
        time.sleep(1)
    assert status == 200, f"the dropped follows' slots were still taken after 40 s ({status})"
