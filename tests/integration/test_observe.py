"""Metrics and health (docs/operations.md, "Metrics and health"): a runner serving runs that
succeed, fail and die, and live ingest of a devchain through a reorg, and the API answering
requests and a query; both /metrics scraped twice and parsed with the Prometheus text parser:
every family is there, run counters moved, no label is unbounded. /health/ready names Postgres
when it stops answering and is ready again when it returns. A metrics port in use is one line
at the runner's start."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from chainlake.observe.health import readiness
from chainlake.observe.metrics import RunnerMetrics
from chainlake.observe.server import MetricsServer
from chainlake.storage import LocalStore
from runner.worker import Runner
from tests.chainkit import stored_tip, wait_until
from tests.integration.conftest import send, token
from tests.runtime import REPO, TEST_JOBS, apply, request_run, running_runner
from tests.tenants import Tenants

CHAIN = 31337
RUNNER_FAMILIES = {
    "chainlake_runs_started",
    "chainlake_runs_finished",
    "chainlake_run_duration_seconds",
    "chainlake_run_queue_wait_seconds",
    "chainlake_queue_depth",
    "chainlake_queue_oldest_age_seconds",
    "chainlake_dead_letters",
    "chainlake_ingest_lag_blocks",
    "chainlake_ingest_lag_seconds",
    "chainlake_ingest_head_block",
    "chainlake_reorgs",
    "chainlake_reorg_depth_blocks",
    "chainlake_alert_evaluation_seconds",
    "chainlake_alert_firings",
    "chainlake_alert_delivery_seconds",
    "chainlake_scrape_errors",
}
API_FAMILIES = {
    "chainlake_api_request_duration_seconds",
    "chainlake_query_duration_seconds",
    "chainlake_query_result_bytes",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
LONG_HEX = re.compile(r"(0x)?[0-9a-f]{16,}", re.I)
MAX_LABEL_SETS = 40  # per family, in a test with three orgs, a few jobs and one chain


def scrape(url: str) -> dict[str, Any]:
    """name -> family, from the Prometheus text at `url` (parsed by the reference parser)."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - 127.0.0.1
        text = response.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def bounded(families: dict[str, Any]) -> None:
    """No label value looks like an id, an address or a path with ids; few label sets each."""
    for family in families.values():
        label_sets = {
            tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")) for s in family.samples
        }
        assert len(label_sets) <= MAX_LABEL_SETS, f"{family.name}: {len(label_sets)} label sets"
        for sample in family.samples:
            for key, value in sample.labels.items():
                assert not UUID.search(value), f"{family.name} {key}={value}: an id as a label"
                assert not LONG_HEX.search(value), f"{family.name} {key}={value}: an address"
                if key == "route":
                    assert value == "unmatched" or value.startswith("/"), value
                    parts = [p for p in value.split("/") if p and not p.startswith("{")]
                    assert all(not any(c.isdigit() for c in p) or p == "v1" for p in parts), (
                        f"{family.name}: route {value} holds a raw value, not a template"
                    )


def total(family: Any, **labels: str) -> float:
    return float(
        sum(
            s.value
            for s in family.samples
            if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
        )
    )


@contextmanager
def runner_metrics(runner: Runner, database_url: str, store: Path) -> Iterator[str]:
    """The runner's metrics server (what `python -m runner` starts) on a free port."""
    server = MetricsServer(
        runner.metrics.registry, lambda: readiness(database_url, LocalStore(store))
    ).start()
    try:
        yield f"http://{server.address}"
    finally:
        server.stop()


def test_metrics_of_real_runs_ingest_and_api_requests_move_and_stay_bounded(
    tenants: Tenants, admin: psycopg.Connection[Any], api: str, tmp_path: Path
) -> None:
    admin.execute("SELECT core.set_system_org('b')")
    writer = tenants.user("a", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml", retries={"max_attempts": 2})
    storage = tmp_path / "storage"
    runner_url = tenants.cluster.url(tenants.database, "chainlake_runner")
    with Anvil(free_port(), CHAIN, block_time=0.05) as anvil:
        settings = {
            "chain_id": CHAIN,
            "name": "obs",
            "rpc_urls": [anvil.url],
            "finality_depth": 16,
            "use_finalized_tag": False,
            "batch_blocks": 20,
        }
        ingest = REPO / "jobs" / "system" / "ingest" / "job.yaml"
        apply(tenants, tenants.user("b", "writer"), ingest, name="ingest-obs",
              config={"chain": settings})  # fmt: skip
        with (
            running_runner(
                tenants,
                storage,
                chain_database_url=tenants.cluster.url(tenants.database, "chainlake_ingest"),
                schedule_every_seconds=0.2,
            ) as runner,
            runner_metrics(runner, runner_url, storage) as metrics_at,
        ):
            wait_until(lambda: stored_tip(admin, CHAIN) >= 30, 60, "ingest")
            first = request_run(tenants, writer, "behave", {"do": "ok"})["id"]
            wait_until(lambda: ended(admin, first), 60, "the first run")
            before = scrape(f"{metrics_at}/metrics")

            RpcClient([anvil.url]).call("anvil_reorg", [3, []])
            runs = [
                request_run(tenants, writer, "behave", {"do": "ok"})["id"],
                request_run(tenants, writer, "behave", {"do": "crash"})["id"],  # two, then dead
                request_run(tenants, writer, "behave", {"do": "fail_until_attempt", "attempt": 2})[
                    "id"
                ],
            ]
            for run in runs:
                wait_until(lambda run=run: ended(admin, run), 90, f"run {run}")
            wait_until(lambda: reorgs(admin) >= 1, 60, "the reorg corrected")
            after = scrape(f"{metrics_at}/metrics")

    assert set(after) >= RUNNER_FAMILIES, RUNNER_FAMILIES - set(after)
    bounded(before)
    bounded(after)
    job = {"org": "a", "job": "behave"}
    assert total(before["chainlake_runs_started"], **job) == 1
    assert total(after["chainlake_runs_started"], **job) == 1 + 3 + 2  # crash and retry twice
    finished = after["chainlake_runs_finished"]
    assert total(finished, **job, outcome="succeeded") == 3
    assert total(finished, **job, outcome="failed") == 2  # crash once, fail_until_attempt once
    assert total(finished, **job, outcome="dead") == 1
    assert observed(after, "chainlake_run_duration_seconds", **job) == 6
    # first attempts only: these four, and the tenants fixture's seed runs the runner took
    waits = observed(after, "chainlake_run_queue_wait_seconds", org="a")
    assert 4 <= waits < observed(after, "chainlake_run_duration_seconds", org="a"), waits
    assert total(after["chainlake_reorgs"], chain="obs") >= 1
    # behave's dead run, and any seed run of the tenants fixture that died meanwhile
    assert gauge(after, "chainlake_dead_letters", org="a") >= 1 + gauge(
        before, "chainlake_dead_letters", org="a"
    )
    lag = after["chainlake_ingest_lag_blocks"].samples
    assert [s.labels for s in lag] == [{"chain": "obs"}], "reported by the ingest job's events"
    evaluated = after["chainlake_alert_evaluation_seconds"].samples
    assert any(s.name.endswith("_count") and s.value > 0 for s in evaluated)
    logged = admin.execute(
        "SELECT count(*) FROM runs.logs WHERE event ->> 'name' LIKE '%ingest_lag_blocks' "
        "OR event ->> 'name' LIKE '%alert_evaluation_seconds'"
    ).fetchone()
    assert logged == (0,), "the ingest job's metric events are counted, not stored"

    bearer = token(tmp_path, tenants.user("a", "reader"))
    first_api = scrape(f"{api}/metrics")
    assert send(api, "GET", "/v1/whoami", bearer)[0] == 200
    assert send(api, "POST", "/v1/query", bearer, {"sql": "SELECT 42 AS answer"})[0] == 200
    assert send(api, "GET", "/v1/runs/00000000-0000-0000-0000-000000000000", bearer)[0] == 404
    second_api = scrape(f"{api}/metrics")
    assert set(second_api) >= API_FAMILIES, API_FAMILIES - set(second_api)
    bounded(second_api)
    requests = second_api["chainlake_api_request_duration_seconds"]
    routes = {s.labels["route"] for s in requests.samples if s.name.endswith("_count")}
    assert {"/v1/whoami", "/v1/query", "/v1/runs/{run_id}", "/metrics"} <= routes, routes
    assert total(second_api["chainlake_query_result_bytes"], format="json") > 0
    queries = second_api["chainlake_query_duration_seconds"].samples
    assert [s.value for s in queries if s.name.endswith("_count")] == [1.0]
    assert count_of(second_api, "/v1/whoami") == count_of(first_api, "/v1/whoami") + 1


def observed(families: dict[str, Any], name: str, **labels: str) -> float:
    """How many observations a histogram holds for these labels."""
    return float(
        sum(
            s.value
            for s in families[name].samples
            if s.name.endswith("_count") and all(s.labels.get(k) == v for k, v in labels.items())
        )
    )


def gauge(families: dict[str, Any], name: str, **labels: str) -> float:
    return float(sum(s.value for s in families[name].samples if s.labels == labels))


def count_of(families: dict[str, Any], route: str) -> float:
    family = families.get("chainlake_api_request_duration_seconds")
    samples = family.samples if family else []
    return float(
        sum(s.value for s in samples if s.name.endswith("_count") and s.labels["route"] == route)
    )


def ended(admin: psycopg.Connection[Any], run_id: str) -> bool:
    row = admin.execute("SELECT status FROM runs.runs WHERE id = %s", (run_id,)).fetchone()
    return bool(row and row[0] in ("succeeded", "dead"))


def reorgs(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute("SELECT count(*) FROM chain.reorgs WHERE chain_id = %s", (CHAIN,))
    found = row.fetchone()
    return int(found[0]) if found else 0


class Forwarder:
    """A TCP forwarder on 127.0.0.1:port to Postgres: stopped, the database does not answer
    there (connections refused, open ones cut); started again on the same port, it does."""

    def __init__(self, upstream: int) -> None:
        self.upstream, self.port = upstream, free_port()
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []

    def start(self) -> Forwarder:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):  # wakes its blocked accept(); a close does not
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        for conn in self.open:
            conn.close()
        self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            server.settimeout(None)
            self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            end.close()


def test_ready_names_postgres_when_it_stops_answering_and_is_ready_when_it_returns(
    tenants: Tenants, tmp_path: Path
) -> None:
    pg = tenants.cluster.pg
    forwarder = Forwarder(pg.port).start()
    url = pg.tcp_url(tenants.database).replace(f":{pg.port}/", f":{forwarder.port}/")
    store = LocalStore(tmp_path / "store")
    app = create_app(url, Fernet.generate_key(), tmp_path / "home", store)
    server = MetricsServer(RunnerMetrics().registry, lambda: readiness(url, store)).start()
    runner_at = f"http://{server.address}"
    try:
        with TestClient(app) as api:

            def answers() -> list[tuple[int, dict[str, Any]]]:
                from_api = api.get("/health/ready")
                return [(from_api.status_code, from_api.json()), get(f"{runner_at}/health/ready")]

            assert answers() == [(200, READY)] * 2
            forwarder.stop()
            for status, body in answers():
                assert status == 503
                assert body["status"] == "not ready"
                assert body["failed"][0].startswith(
                    f"postgres: does not answer at 127.0.0.1:{forwarder.port}: "
                ), body
                assert body["checks"]["object_store"] == "ok"
                assert pg.superuser_password not in str(body)
            assert api.get("/health/live").status_code == 200  # the process is up
            assert api.get("/health").json() == {"status": "ok"}  # kept, for what uses it
            assert get(f"{runner_at}/health/live") == (200, {"status": "ok"})
            forwarder.start()
            assert answers() == [(200, READY)] * 2
    finally:
        server.stop()
        forwarder.stop()


READY = {"status": "ready", "checks": {"postgres": "ok", "pgmq": "ok", "object_store": "ok"}}


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - 127.0.0.1
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_a_metrics_port_in_use_is_one_line_at_the_runners_start(
    listening_port: int, tmp_path: Path
) -> None:
    address_file = tmp_path / "runner.metrics"
    argv = [sys.executable, "-m", "runner", "--database-url", "postgresql://nobody@127.0.0.1:1/x",
            "--storage-root", str(tmp_path / "storage"), "--metrics-port", str(listening_port),
            "--metrics-file", str(address_file)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"chainlake runner: the metrics port 127.0.0.1:{listening_port} is in use (stop what "
        "listens there, or set another port with --metrics-port or CHAINLAKE_METRICS_PORT "
        "(0: a free one))"
    ]
    assert not address_file.exists() and not (tmp_path / "storage").exists(), "nothing changed"


def test_with_a_metrics_token_set_metrics_ask_for_it_and_health_does_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHAINLAKE_METRICS_TOKEN", "s3cret-token-42")
    closed = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    server = MetricsServer(RunnerMetrics().registry, lambda: readiness(closed, None)).start()
    app = create_app(closed, Fernet.generate_key(), tmp_path / "home", LocalStore(tmp_path))
    try:
        with TestClient(app) as api:
            assert api.get("/metrics").status_code == 401
            assert api.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            good = {"Authorization": "Bearer s3cret-token-42"}
            assert (
                "chainlake_api_request_duration_seconds" in api.get("/metrics", headers=good).text
            )
            assert api.get("/health/live").status_code == 200
        request = urllib.request.Request(f"http://{server.address}/metrics")
        assert status_of(request) == 401
        request.add_header("Authorization", "Bearer s3cret-token-42")
        assert status_of(request) == 200
        assert get(f"http://{server.address}/health/live") == (200, {"status": "ok"})
    finally:
        server.stop()


def status_of(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
