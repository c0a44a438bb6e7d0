"""The metric families of the runner and of the API, each in a registry of its own process.

Naming follows Prometheus conventions: a `chainlake_` prefix, `_total` counters, `_seconds`
histograms in base units. Labels are bounded: an org's name, a job's name, a chain's name, a
channel kind, a route template, a status code, an outcome; never a run id, a user id, a raw path
or an address."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.registry import Collector

# Run and queue-wait durations: a second to a day.
RUN_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)
# Short operations: an API request, a query, an alert evaluation, a delivery.
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Reorg depths, in blocks.
DEPTH_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 34, 64, 128)
OUTCOMES = ("succeeded", "failed", "dead")
# The metric events a platform job (one holding the chain_writer credential) reports on its
# stream for the runner to count instead of storing them in its run's log (jobs/system/ingest).
INGEST_LAG_BLOCKS = "chainlake_ingest_lag_blocks"
ALERT_EVALUATION_SECONDS = "chainlake_alert_evaluation_seconds"
PLATFORM_EVENTS = (INGEST_LAG_BLOCKS, ALERT_EVALUATION_SECONDS)
# No `_created` series beside each counter and histogram (prometheus_client's default): they
# double what a scrape carries and no dashboard here reads them. A process-wide setting.
disable_created_metrics()  # type: ignore[no-untyped-call]


class RunnerMetrics:
    """What a runner counts as it happens: runs started and finished here, their durations and
    queue waits, and what its platform jobs report (ingest lag, alert evaluation time)."""

    def __init__(self, org_label: Callable[[str], str] | None = None) -> None:
        self.registry = CollectorRegistry()
        self._org_label = org_label or (lambda org_id: "unknown")
        self._org_names: dict[str, str] = {}
        self._started: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()
        r = self.registry
        self.runs_started = Counter(
            "chainlake_runs_started", "Runs (attempts) this runner started", ["org", "job"],
            registry=r,
        )  # fmt: skip
        self.runs_finished = Counter(
            "chainlake_runs_finished",
            "Attempts this runner finished, by outcome: succeeded; failed (retried); dead "
            "(no retry left, or not retryable: in the dead letters)",
            ["org", "job", "outcome"],
            registry=r,
        )
        self.run_duration = Histogram(
            "chainlake_run_duration_seconds", "Attempt duration, claim to recorded end",
            ["org", "job"], buckets=RUN_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_wait = Histogram(
            "chainlake_run_queue_wait_seconds", "From a run's request to its first attempt",
            ["org"], buckets=RUN_BUCKETS, registry=r,
        )  # fmt: skip
        # collected last, so that a scrape shows the errors of its own collectors
        self.scrape_errors = Counter(
            "chainlake_scrape_errors",
            "Values a scrape left out: the Postgres read failed or timed out, or one value was bad",
            ["source"],
            registry=None,
        )
        r.register(self.scrape_errors)
        self.ingest_lag_blocks = Gauge(
            "chainlake_ingest_lag_blocks", "The node's head minus the highest block ingested",
            ["chain"], registry=r,
        )  # fmt: skip
        self.alert_evaluation = Histogram(
            "chainlake_alert_evaluation_seconds",
            "Alert rules' evaluation time per ingest batch",
            ["chain"],
            buckets=FAST_BUCKETS,
            registry=r,
        )

    def attach(self, collector: Collector) -> None:
        """Add a collector read at scrape time, before the scrape errors' counter."""
        self.registry.unregister(self.scrape_errors)
        self.registry.register(collector)
        self.registry.register(self.scrape_errors)

    def set_org_label(self, org_label: Callable[[str], str]) -> None:
        """How an org's id becomes its name (the runner's look-up in Postgres)."""
        self._org_label = org_label

    def org(self, org_id: str) -> str:
        """An org's name (cached: one look-up per org a process serves)."""
        with self._lock:
            known = self._org_names.get(org_id)
        if known is not None:
            return known
        try:
            name = self._org_label(org_id)
        except Exception:  # a label is never worth failing a run for
            return "unknown"
        with self._lock:
            self._org_names[org_id] = name
        return name

    def run_started(self, run: dict[str, Any], created_at: float | None) -> None:
        org, job = self.org(str(run["org_id"])), str(run["job_name"])
        self.runs_started.labels(org, job).inc()
        with self._lock:
            self._started[(str(run["id"]), int(run["attempt"]))] = time.monotonic()
        if created_at is not None and int(run["attempt"]) == 1:
            self.queue_wait.labels(org).observe(max(0.0, time.time() - created_at))

    def run_finished(self, run: dict[str, Any], outcome: str) -> None:
        """An attempt's end as recorded (`runs.complete` / `runs.fail`): stale ends count not."""
        if outcome not in OUTCOMES:
            return
        org, job = self.org(str(run["org_id"])), str(run["job_name"])
        self.runs_finished.labels(org, job, outcome).inc()
        with self._lock:
            began = self._started.pop((str(run["id"]), int(run["attempt"])), None)
        if began is not None:
            self.run_duration.labels(org, job).observe(time.monotonic() - began)

    def forget(self, run_id: str | None) -> None:
        """An attempt that ended without a recorded end (abandoned, taken over): no duration."""
        with self._lock:
            for key in [k for k in self._started if k[0] == str(run_id)]:
                del self._started[key]

    def platform_line(self, chain: str, line: str) -> bool:
        """platform_event for one line of a job's stream (not JSON: not one)."""
        if '"metric"' not in line:
            return False
        try:
            event = json.loads(line)
        except ValueError:
            return False
        return isinstance(event, dict) and self.platform_event(chain, event)

    def platform_event(self, chain: str, event: dict[str, Any]) -> bool:
        """Count a platform job's metric event; whether it was one (then it is not logged)."""
        name, value = event.get("name"), event.get("value")
        if event.get("type") != "metric" or name not in PLATFORM_EVENTS:
            return False
        if not isinstance(value, int | float) or not math.isfinite(value):
            self.scrape_errors.labels("event").inc()
            return True
        if name == INGEST_LAG_BLOCKS:
            self.ingest_lag_blocks.labels(chain).set(max(0.0, float(value)))
        else:
            self.alert_evaluation.labels(chain).observe(max(0.0, float(value)))
        return True


class ApiMetrics:
    """What the API counts: requests by route template, method and status; queries."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_duration = Histogram(
            "chainlake_api_request_duration_seconds",
            "API requests, by route template (never the raw path), method and status code",
            ["route", "method", "status"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.query_duration = Histogram(
            "chainlake_query_duration_seconds",
            "SQL queries through the API, start to the answer's last byte, by format and outcome",
            ["format", "outcome"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.query_result_bytes = Counter(
            "chainlake_query_result_bytes",
            "Bytes of query answers sent (the answers' size; the engine does not report bytes "
            "scanned)",
            ["format"],
            registry=r,
        )
