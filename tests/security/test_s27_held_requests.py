"""Issue 17's held requests (alert listen, run wait) as an anonymous caller, as org b against
org a, and with a token that runs out while held. All of these hold."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from chainlake.client import Client
from chainlake.errors import NotFound, QuotaExceeded
from chainlake.tokens import issue_dev_token
from tests.integration.conftest import call, token
from tests.runtime import wait_for
from tests.tenants import Tenants

Events = Generator[tuple[str, dict[str, Any]], None, None]  # what listen_alerts returns


def _run_of(admin: psycopg.Connection[Any], tenants: Tenants, org: str) -> str:
    (run,) = admin.execute(
        "SELECT id::text FROM runs.runs WHERE org_id = %s AND status = 'queued' LIMIT 1",
        (tenants.org_ids[org],),
    ).fetchone() or ("",)
    return str(run)


def test_anonymous_and_junk_tokens_get_401_at_once(
    api: str, tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    run = _run_of(admin, tenants, "a")
    for path in ("/v1/alerts/events?org=a", f"/v1/runs/{run}?wait=30"):
        for bearer in (None, "junk", "a.b.c"):
            started = time.monotonic()
            status, _, _ = call(api, path, bearer=bearer)
            assert status == 401, (path, bearer, status)
            assert time.monotonic() - started < 5


def test_b_waiting_on_as_run_is_refused_at_once_and_holds_no_slot(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    run = _run_of(admin, tenants, "a")
    bob = Client(api, token(tmp_path, tenants.user("b", "writer")))
    for _ in range(6):  # more than the four wait slots: none is taken by a refusal
        started = time.monotonic()
        with pytest.raises(NotFound):
            bob.await_run(run_id=run, seconds=30)
        assert time.monotonic() - started < 5


def test_held_requests_end_with_their_token(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """A listen and a wait opened with a token that has 4 s left end by themselves soon after
    it runs out (the listen with `expired`), not at their own timeouts."""
    user = tenants.user("a", "reader")
    short = issue_dev_token(tmp_path / "home" / "dev-issuer", user.id, user.email, ttl_seconds=4)
    ann = Client(api, short)
    started = time.monotonic()
    events = list(ann.listen_alerts(org="a", timeout=120))
    assert events[-1][0] == "expired", events
    assert time.monotonic() - started < 30
    short = issue_dev_token(tmp_path / "home" / "dev-issuer", user.id, user.email, ttl_seconds=4)
    started = time.monotonic()
    waited = Client(api, short).await_run(run_id=_run_of(admin, tenants, "a"), seconds=60)
    assert waited["status"] == "queued"
    assert time.monotonic() - started < 30
    request = urllib.request.Request(f"{api}/v1/runs/{waited['id']}")  # noqa: S310
    request.add_header("Authorization", f"Bearer {short}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.code == 401, "the expired token is refused afterwards"


def test_acting_leaves_no_isolation_level_and_keeps_the_charge_of_failed_requests(
    tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """api/session.py acting(): b's backtests of a's rule (404) and of its own rule with a bad
    range fail inside REPEATABLE READ; every pooled connection afterwards is back at the default
    isolation, and each failed request was charged to b's rate limit and its sign-in kept."""
    from tests.security.test_s27_listen import served

    bob_user = tenants.user("b", "writer")
    bearer = token(tmp_path, bob_user)

    def charged() -> int:
        (n,) = admin.execute(
            "SELECT coalesce(sum(count), 0) FROM core.api_requests WHERE user_id = %s",
            (bob_user.id,),
        ).fetchone() or (0,)
        return int(n)

    with served(tenants, tmp_path) as (url, app):
        bob = Client(url, bearer)
        before = charged()
        failures = 0
        for org, name, first, last in (
            ("a", "rule_a_seed", 1, 2),
            ("b", "rule_b_seed", 5, 1),
            ("b", "no_such_rule", 1, 2),
        ) * 4:
            with pytest.raises(Exception):  # noqa: B017 - any refusal; the point is what stays
                bob.backtest_alert_rule(org=org, name=name, first=first, last=last)
            failures += 1
        assert charged() - before == failures, "each failed request is charged"
        pooled = list(app.state.pool._pool)
        assert pooled and all(c.isolation_level is None for c in pooled), [
            c.isolation_level for c in pooled
        ]
    (kept,) = admin.execute(
        "SELECT count(*) FROM core.sign_ins WHERE user_id = %s", (bob_user.id,)
    ).fetchone() or (0,)
    assert kept == 1, "the sign-in of the failed requests' token is kept"


def test_a_listen_closed_by_its_client_gives_its_slot_back(
    api: str, tenants: Tenants, tmp_path: Path
) -> None:
    """Holds: a caller who drops their two listens (client closed) may listen again at once;
    dropped streams hold no slot until their timeout."""
    bob = Client(api, token(tmp_path, tenants.user("b", "reader")))
    for _ in range(3):
        streams = [cast(Events, bob.listen_alerts(org="b", timeout=600)) for _ in range(2)]
        for stream in streams:
            assert next(stream)[0] == "listening"
            stream.close()  # the client hangs up

    def listens_again() -> bool:
        try:
            again = cast(Events, bob.listen_alerts(org="b", timeout=600))
            ok = next(again)[0] == "listening"
            again.close()
            return ok
        except QuotaExceeded:
            return False

    assert wait_for(listens_again, timeout=5)
