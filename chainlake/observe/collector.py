"""Values that live in Postgres already (queues, dead letters, chain tables, alert firings and
deliveries), read at scrape time with one short statement (core.metrics_snapshot) under a time
bound. A failed or slow read never fails the scrape: its families are left out and
chainlake_scrape_errors_total{source="postgres"} counts it; one bad value leaves out that value
alone (source="value")."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from chainlake.observe.metrics import DEPTH_BUCKETS, FAST_BUCKETS, RunnerMetrics

CONNECT_TIMEOUT_S = 2
STATEMENT_TIMEOUT_MS = 2000
log = logging.getLogger("chainlake.observe")

# family in core.metrics_snapshot -> (metric name, kind, help, label, histogram bounds)
FAMILIES: dict[str, tuple[str, str, str, str, Sequence[float]]] = {
    "queue_depth": ("chainlake_queue_depth", "gauge", "Messages in a queue", "queue", ()),
    "queue_oldest_age_seconds": (
        "chainlake_queue_oldest_age_seconds", "gauge", "Age of a queue's oldest message",
        "queue", (),
    ),
    "dead_letters": (
        "chainlake_dead_letters", "gauge", "Dead letters not replayed", "org", (),
    ),
    "ingest_head_block": (
        "chainlake_ingest_head_block", "gauge", "Highest block in hot storage", "chain", (),
    ),
    "ingest_lag_seconds": (
        "chainlake_ingest_lag_seconds", "gauge", "Now minus the newest stored block's time",
        "chain", (),
    ),
    "reorgs": ("chainlake_reorgs", "counter", "Reorgs corrected", "chain", ()),
    "reorg_depth": (
        "chainlake_reorg_depth_blocks", "histogram", "Depth of corrected reorgs", "chain",
        DEPTH_BUCKETS,
    ),
    "alert_firings": (
        "chainlake_alert_firings", "counter", "Alert firings (backtests left out)", "org", (),
    ),
    "alert_delivery_seconds": (
        "chainlake_alert_delivery_seconds", "histogram",
        "Alert deliveries, firing recorded to delivered", "kind", FAST_BUCKETS,
    ),
}  # fmt: skip


class PostgresCollector(Collector):
    """Reads core.metrics_snapshot on each scrape, as the runner's login role."""

    def __init__(self, database_url: str, metrics: RunnerMetrics) -> None:
        self.database_url = database_url
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # registration never reads Postgres

    def collect(self) -> Iterable[Metric]:
        try:
            rows = self.read()
        except Exception as exc:  # any failure: the families are left out, the scrape goes on
            log.warning("metrics: reading Postgres failed: %s", " ".join(str(exc).split()))
            self.metrics.scrape_errors.labels("postgres").inc()
            return []
        return list(families(rows, self.metrics))

    def read(self) -> list[tuple[Any, ...]]:
        with psycopg.connect(
            self.database_url,
            connect_timeout=CONNECT_TIMEOUT_S,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            autocommit=True,
        ) as conn:
            return conn.execute(
                "SELECT family, labels, value, buckets FROM core.metrics_snapshot(%s, %s)",
                ([int(b) for b in DEPTH_BUCKETS], [float(b) for b in FAST_BUCKETS]),
            ).fetchall()


def families(rows: Iterable[tuple[Any, ...]], metrics: RunnerMetrics) -> Iterator[Metric]:
    """Every family, with the snapshot's rows as samples; a row with a bad value (or of an
    unknown family) is left out and counted, and every other row still goes out."""
    built = {
        family: _new(name, kind, doc, label)
        for family, (name, kind, doc, label, _) in FAMILIES.items()
    }
    for family, labels, value, buckets in rows:
        try:
            _name, kind, _doc, label, bounds = FAMILIES[family]
            _add(built[family], kind, str(labels[label]), value, buckets, bounds)
        except (KeyError, TypeError, ValueError, IndexError):
            metrics.scrape_errors.labels("value").inc()
    yield from built.values()


def _new(name: str, kind: str, doc: str, label: str) -> Metric:
    if kind == "counter":
        return CounterMetricFamily(name, doc, labels=[label])
    if kind == "histogram":
        return HistogramMetricFamily(name, doc, labels=[label])
    return GaugeMetricFamily(name, doc, labels=[label])


def _add(
    metric: Metric,
    kind: str,
    label: str,
    value: Any,
    buckets: Sequence[int] | None,
    bounds: Sequence[float],
) -> None:
    """One labelled value into `metric`; ValueError when it is not a finite number (or a
    histogram's buckets do not fit its bounds), before anything of it was added."""
    number = float(value if value is not None else math.nan)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"not a finite non-negative number: {value!r}")
    if kind != "histogram":
        metric.add_metric([label], number)  # type: ignore[attr-defined]
        return
    counts = [int(c) for c in buckets or []]
    if len(counts) != len(bounds) + 1 or counts != sorted(counts):
        raise ValueError(f"histogram buckets {counts!r} do not fit bounds {list(bounds)!r}")
    pairs = [(_bound(b), float(c)) for b, c in zip(bounds, counts, strict=False)]
    metric.add_metric([label], [*pairs, ("+Inf", float(counts[-1]))], number)  # type: ignore[attr-defined]


def _bound(bound: float) -> str:
    """A bucket's bound as Prometheus writes it (1.0, 0.25)."""
    return repr(float(bound))
