"""Metrics and health (docs/operations.md, "Metrics and health"): a runner serving runs that
succeed, fail and die, and live ingest of a devchain through a reorg, and the API answering
requests and a query; both /metrics scraped twice and parsed with the Prometheus text parser:
every family is there, run counters moved, no label is unbounded. /health/ready names Postgres
when it stops answering and is ready again when it returns. A metrics port in use is one line
at the runner's start."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from chainlake.observe.health import readiness
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
    assert total(after["chainlake_reorgs"], chain="obs") >= 1
    assert gauge(after, "chainlake_dead_letters", org="a") == 1 + gauge(
        before, "chainlake_dead_letters", org="a"
    )
    lag = after["chainlake_ingest_lag_blocks"].samples
    assert [s.labels for s in lag] == [{"chain": "obs"}], "reported by the ingest job's events"
    evaluated = after["chainlake_alert_evaluation_seconds"].samples
    assert any(s.name.endswith("_count") and s.value > 0 for s in evaluated)
    logged = admin.execute(
        "SELECT count(*) FROM runs.logs WHERE event ->> 'name' LIKE 'chainlake_%'"
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
