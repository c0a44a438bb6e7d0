"""M6, server-side request forgery: every URL or host a tenant sets (alert channels, a service
job's endpoint) goes through one guarded client. Channels are checked when saved (Postgres:
literal addresses, schemes, ports; the API: names) and again at delivery; the platform's own
services (its Postgres, API, node) are never reached, even when the operator allowed the
address by mistake; private, loopback and metadata addresses only at an exact host:port the
operator allows; no redirect is followed; and no reply of a receiver, nor a connect error that
tells one internal port from another, reaches anything the tenant reads."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chainlake import jobdefs
from chainlake.alerts.deliver import Deliverer
from chainlake.egress import load_policy
from chainlake.errors import InvalidInput
from chainlake.local.localpg import free_port
from tests.integration.conftest import send, token
from tests.receivers import Tally, http_answer, tcp_server
from tests.runtime import EXAMPLES, TEST_JOBS, request_run, running_runner
from tests.security.egress_kit import allow, before_the_rule, finished, log_messages, platform
from tests.tenants import Tenants

SECRET = "PG-SECRET-REPLY-5e1f"  # what an internal service answers: never shown to a tenant
CHANNEL = (
    "INSERT INTO alerts.channels (org_id, name, kind, target, config) VALUES (%s, %s, %s, %s, %s)"
)


@pytest.fixture
def pg_port(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute("SHOW port").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def internal() -> Iterator[Tally]:
    """An internal service of the platform (a stand-in that answers with a secret)."""
    with tcp_server(http_answer("500 Internal Server Error", SECRET.encode())) as server:
        yield server


def refused_channels(pg_port: int) -> list[tuple[str, str, dict[str, Any], str]]:
    """(kind, target, config, what the refusal says) of channels aimed where they may not go."""
    return [
        ("webhook", f"http://127.0.0.1:{pg_port}/", {}, "platform's own services"),
        ("webhook", "http://169.254.169.254/latest/meta-data/", {}, "the cloud metadata address"),
        ("webhook", "http://[fd00:ec2::254]/", {}, "the cloud metadata address"),
        ("webhook", "http://10.0.0.5:8080/hook", {}, "10.0.0.5 is a private address"),
        ("webhook", "http://localhost:8080/hook", {}, "localhost is a loopback name"),
        ("webhook", "http://127.1:8080/hook", {}, "neither a host name nor an IP address"),
        ("webhook", "http://[::ffff:127.0.0.1]:8080/", {}, "an IPv4-mapped address"),
        ("webhook", "http://ops@example.com/hook", {}, "user name or password"),
        ("slack", "gopher://example.com/", {}, "not an http:// or https:// URL"),
        ("webhook", "http://example.com:70000/", {}, "port 70000 is not a port"),
        (
            "sms",
            "+15550001",
            {"base_url": "http://192.168.1.1", "account_sid": "AC1", "from": "+1"},
            "config.base_url: refused: 192.168.1.1 is a private address",
        ),
        ("email", "ops@b.example", {}, "config.host: refused: 127.0.0.1 is a loopback address"),
    ]


def test_a_channel_aimed_inside_is_refused_when_saved_and_nothing_is_stored(
    tenants: Tenants, admin: psycopg.Connection[Any], pg_port: int
) -> None:
    """As evil's writer, by INSERT, by the stored function the CLI and API call, and by an
    UPDATE of a channel that was fine."""
    org = tenants.org_ids["b"]
    with tenants.login(tenants.user("b", "writer")) as conn:
        conn.execute(CHANNEL, (org, "fine", "webhook", "https://hooks.example.com/x", "{}"))
        for n, (kind, target, config, says) in enumerate(refused_channels(pg_port)):
            for sql, params in (
                (CHANNEL, (org, f"bad{n}", kind, target, json.dumps(config))),
                (
                    "SELECT alerts.save_channel('b', %s, %s, %s, %s, NULL)",
                    (f"bad{n}", kind, target, json.dumps(config)),
                ),
                ("UPDATE alerts.channels SET target = %s WHERE name = 'fine'", (target,)),
            ):
                if sql.startswith("UPDATE") and kind != "webhook":
                    continue
                with pytest.raises(errors.InvalidParameterValue) as refused:
                    conn.execute(sql, params)
                assert "refused: " in str(refused.value) and says in str(refused.value), (
                    target,
                    str(refused.value),
                )
        stored = conn.execute(
            "SELECT name, target FROM alerts.channels WHERE org_id = %s AND name <> 'ch_b_seed'",
            (org,),
        )
        assert stored.fetchall() == [("fine", "https://hooks.example.com/x")]


def test_a_name_that_resolves_inside_is_refused_when_saved_through_the_api(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """Postgres cannot resolve names; the API does, and checks every address a name has
    (`localhost` resolves to loopback on every machine, so this always runs)."""
    name = "localhost"
    addresses = {a[4][0] for a in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses
    evil = token(tmp_path, tenants.user("b", "writer"))
    hook = {"name": "inside", "kind": "webhook", "target": f"http://{name}:8080/hook"}
    status, problem = send(api, "POST", "/v1/alerts/channels/b", evil, hook)
    assert status == 400, problem
    assert problem["detail"].startswith(f'channel "inside": target: refused: {name} resolves to ')
    assert "a loopback address" in problem["detail"]
    assert admin.execute(
        "SELECT count(*) FROM alerts.channels WHERE name = 'inside'"
    ).fetchone() == (0,)


def firing_for(admin: psycopg.Connection[Any], org_id: str, channels: list[str]) -> None:
    """A firing of a rule of the org over `channels`, announced: one delivery per channel."""
    row = admin.execute(
        "INSERT INTO alerts.rules (org_id, name, dataset, condition, channels, enabled) "
        "VALUES (%s, %s, 'chain.blocks', 'true', %s, false) RETURNING id",
        (org_id, f"r{time.monotonic_ns()}", channels),
    ).fetchone()
    assert row is not None
    firing = admin.execute(
        "INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, to_block, block_hash, "
        "match_key, dedup_value) VALUES (%s, %s, 1, 1, 1, '\\x01', 'm', %s) RETURNING id",
        (org_id, row[0], str(time.monotonic_ns())),
    ).fetchone()
    assert firing is not None
    admin.execute("SELECT alerts.announce(%s, 'fired')", (firing[0],))


def deliver_all(
    tenants: Tenants, admin: psycopg.Connection[Any], channels: list[str]
) -> dict[str, tuple[Any, ...]]:
    """Deliver until no task of `channels` is left (one attempt each); (state, last_error) per
    channel."""
    url = tenants.cluster.url(tenants.database, "chainlake_alerts")
    deliverer = Deliverer(url, b"", max_attempts=1, log=lambda _m: None)
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            deliverer.deliver_once(conn)
            pending = admin.execute(
                "SELECT count(*) FROM alerts.deliveries WHERE state = 'pending' "
                "AND channel = ANY(%s)",
                (channels,),
            ).fetchone()
            if pending == (0,):
                break
            time.sleep(0.05)
    return {
        r[0]: (r[1], r[2])
        for r in admin.execute(
            "SELECT channel, state, last_error FROM alerts.deliveries WHERE channel = ANY(%s)",
            (channels,),
        )
    }


def test_delivery_checks_again_and_echoes_nothing(
    tenants: Tenants, admin: psycopg.Connection[Any], internal: Tally, pg_port: int
) -> None:
    """Channels stored before the rule (or names whose address changed since) are refused at
    delivery; an allowed receiver's 500 and a redirect to an internal address show no body and
    are not followed; an open and a closed internal port fail alike, without a connection."""
    admin.execute("UPDATE alerts.rules SET enabled = false")
    org = tenants.org_ids["b"]
    platform(admin, f"127.0.0.1:{internal.port}")
    allow(admin, f"127.0.0.1:{internal.port}")  # an operator's mistake changes nothing
    redirect = http_answer("302 Found", b"", f"Location: http://127.0.0.1:{internal.port}/")
    closed = free_port()
    with (
        tcp_server(redirect) as redirector,
        tcp_server(http_answer("500 Oops", SECRET.encode())) as failing,
        tcp_server(http_answer("200 OK", b"")) as listening,
    ):
        allow(admin, f"127.0.0.1:{redirector.port}", f"127.0.0.1:{failing.port}")
        channels = {
            "named": f"http://localhost:{listening.port}/hook",
            "platform": f"http://127.0.0.1:{internal.port}/hook",
            "postgres": f"http://127.0.0.1:{pg_port}/hook",
            "metadata": "http://169.254.169.254/latest/meta-data/",
            "open": f"http://127.0.0.1:{listening.port}/",  # open or closed: the same answer
            "closed": f"http://127.0.0.1:{closed}/",
            "failing": f"http://127.0.0.1:{failing.port}/hook",
            "redirect": f"http://127.0.0.1:{redirector.port}/hook",
        }
        with before_the_rule(admin, "alerts.channels", "channels_destinations_checked"):
            for name, target in channels.items():
                admin.execute(CHANNEL, (org, name, "webhook", target, "{}"))
        firing_for(admin, org, list(channels))
        outcome = deliver_all(tenants, admin, list(channels))
        assert failing.connections == 1 and redirector.connections == 1
        assert listening.connections == 0
    assert outcome == {
        "named": ("dead", "refused: localhost resolves to 127.0.0.1, a loopback address"),
        "platform": (
            "dead",
            f"refused: 127.0.0.1:{internal.port} is one of the platform's own services",
        ),
        "postgres": ("dead", f"refused: 127.0.0.1:{pg_port} is one of the platform's own services"),
        "metadata": ("dead", "refused: 169.254.169.254 is the cloud metadata address"),
        "open": ("dead", "refused: 127.0.0.1 is a loopback address"),
        "closed": ("dead", "refused: 127.0.0.1 is a loopback address"),
        "failing": ("dead", "HTTP 500"),
        "redirect": ("dead", "HTTP 302 (redirects are not followed)"),
    }
    assert internal.connections == 0, "the platform's own service was reached"
    everything = admin.execute("SELECT string_agg(d::text, ' ') FROM alerts.deliveries d")
    assert SECRET not in str(everything.fetchone())


def test_the_guard_and_the_stored_check_agree(
    tenants: Tenants, admin: psycopg.Connection[Any], pg_port: int
) -> None:
    """Postgres (at save) and the guarded client (at use) apply one rule: the client reads its
    ranges, allow-list and platform addresses from Postgres, and both give the same verdict."""
    allow(admin, "127.0.0.1:8080", "10.1.2.3:443")
    platform(admin, "10.9.9.9:5432")
    policy = load_policy(admin)
    cases = [
        ("127.0.0.1", 8080),
        ("127.0.0.1", 8081),
        ("127.0.0.1", pg_port),
        ("10.1.2.3", 443),
        ("10.1.2.3", 444),
        ("10.9.9.9", 5432),
        ("169.254.169.254", 80),
        ("169.254.1.1", 80),
        ("100.64.0.1", 80),
        ("192.0.2.1", 80),
        ("224.0.0.1", 80),
        ("240.0.0.1", 80),
        ("0.0.0.0", 80),  # noqa: S104 - an address to check, not to bind
        ("8.8.8.8", 443),
        ("1.1.1.1", 53),
        ("::1", 80),
        ("::", 80),
        ("fd00:ec2::254", 80),
        ("fe80::1", 80),
        ("fc00::1", 80),
        ("ff02::1", 80),
        ("::ffff:127.0.0.1", 80),
        ("64:ff9b::7f00:1", 80),
        ("2001:db8::1", 80),
        ("2606:4700:4700::1111", 443),
    ]
    for host, port in cases:
        stored = admin.execute("SELECT core.egress_refusal(%s, %s)", (host, port)).fetchone()
        assert stored is not None
        guarded = policy.refusal(host, ipaddress.ip_address(host), port)
        assert stored[0] == guarded, (host, port, stored[0], guarded)


def test_a_service_job_cannot_reach_the_platform_or_the_metadata_address(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, internal: Tally, pg_port: int
) -> None:
    """The hostile job as a service whose endpoint is the platform's Postgres or the metadata
    address: refused when applied; stored around the rule, its run fails naming the refusal,
    and neither a byte of the reply nor a connection reaches anyone."""
    writer = tenants.user("b", "writer")
    spec = jobdefs.load(EXAMPLES / "hostile" / "job.yaml")
    for endpoint, says in (
        (
            f"http://127.0.0.1:{pg_port}",
            f"127.0.0.1:{pg_port} is one of the platform's own services",
        ),
        ("http://169.254.169.254/latest", "169.254.169.254 is the cloud metadata address"),
        ("http://[::1]:8080", "::1 is a loopback address"),
    ):
        service = spec | {"launcher": {"kind": "service", "endpoint": endpoint}}
        with tenants.login(writer) as conn, pytest.raises(InvalidInput) as refused:
            jobdefs.apply(conn, tenants.org_ids["b"], service)
        assert f"launcher.endpoint: refused: {says}" in refused.value.message
    platform(admin, f"127.0.0.1:{internal.port}")
    allow(admin, f"127.0.0.1:{internal.port}")
    service = spec | {
        "launcher": {"kind": "service", "endpoint": f"http://127.0.0.1:{internal.port}"}
    }
    with (
        before_the_rule(admin, "jobs.definitions", "definitions_egress_checked"),
        tenants.login(writer) as conn,
    ):
        jobdefs.apply(conn, tenants.org_ids["b"], service)
    with running_runner(tenants, tmp_path / "storage"):
        run = finished(admin, request_run(tenants, writer, "hostile", {"attack": "memory"})["id"])
    assert run["status"] == "dead"
    assert run["error"]["message"] == (
        f"refused: 127.0.0.1:{internal.port} is one of the platform's own services"
    )
    assert internal.connections == 0


def test_a_service_reply_reaches_the_run_log_only_as_events(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """An allowed endpoint that answers something other than the contract's event stream (an
    internal service's banner, an error page) fails the run without showing a byte of it."""
    writer = tenants.user("b", "writer")
    spec = jobdefs.load(TEST_JOBS / "behave.yaml")
    replies = {
        "page": http_answer(
            "500 Internal Server Error", SECRET.encode(), "Content-Type: text/html"
        ),
        "banner": http_answer("200 OK", f"{SECRET}\n".encode(), "Content-Type: text/plain"),
        "mixed": http_answer(
            "200 OK",
            f'{SECRET}\n{{"type": "log", "level": "info", "message": "hi"}}\n'.encode(),
            "Content-Type: application/x-ndjson",
        ),
    }
    ids = {}
    with (
        tcp_server(replies["page"]) as page,
        tcp_server(replies["banner"]) as banner,
        tcp_server(replies["mixed"]) as mixed,
    ):
        for name, server in (("page", page), ("banner", banner), ("mixed", mixed)):
            allow(admin, f"127.0.0.1:{server.port}")
            launcher = {"kind": "service", "endpoint": f"http://127.0.0.1:{server.port}"}
            with tenants.login(writer) as conn:
                jobdefs.apply(
                    conn,
                    tenants.org_ids["b"],
                    spec | {"name": name, "launcher": launcher, "retries": {"max_attempts": 1}},
                )
        with running_runner(tenants, tmp_path / "storage"):
            ids = {name: request_run(tenants, writer, name)["id"] for name in replies}
            runs = {name: finished(admin, run_id) for name, run_id in ids.items()}
    assert runs["page"]["error"]["message"] == "the service answered HTTP 500"
    assert runs["banner"]["error"]["message"] == (
        "the service answered text/plain, not application/x-ndjson"
    )
    assert runs["mixed"]["status"] == "dead"
    assert log_messages(admin, ids["mixed"])[:2] == [
        "hi",
        "the service sent 1 line that is not an event (not shown)",
    ]
    for name, run in runs.items():
        everything = " ".join(log_messages(admin, run["id"])) + json.dumps(run["error"])
        assert SECRET not in everything, name
