"""A scrape never fails because of one bad value, nor because Postgres does not answer: the bad
value (or the whole Postgres read) is left out, chainlake_scrape_errors_total counts it, and the
rest of the exposition still parses."""

from __future__ import annotations

import math

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chainlake.observe.collector import FAMILIES, PostgresCollector, families
from chainlake.observe.metrics import DEPTH_BUCKETS, RunnerMetrics


def parsed(metrics: RunnerMetrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = generate_latest(metrics.registry).decode()
    return {
        f.name: {
            tuple(sorted(s.labels.items())): s.value for s in f.samples if "le" not in s.labels
        }
        for f in text_string_to_metric_families(text)
    }


def test_one_bad_value_is_left_out_and_counted_and_the_rest_goes_out() -> None:
    metrics = RunnerMetrics()
    good_depths = [1, 2, *[2] * (len(DEPTH_BUCKETS) - 2), 2]
    rows = [
        ("queue_depth", {"queue": "run_tasks"}, 3.0, None),
        ("queue_depth", {"queue": "alert_deliveries"}, math.nan, None),  # bad
        ("dead_letters", {"org": "acme"}, None, None),  # bad
        ("dead_letters", {"org": "zeta"}, 2.0, None),
        ("reorg_depth", {"chain": "main"}, 4.0, good_depths),
        ("reorg_depth", {"chain": "side"}, 4.0, [3, 1]),  # buckets that do not fit: bad
        ("no_such_family", {"x": "y"}, 1.0, None),  # bad
        ("reorgs", {"wrong_label": "main"}, 1.0, None),  # bad
    ]
    found = {m.name: m for m in families(rows, metrics)}
    assert set(found) == {name for name, *_ in FAMILIES.values()}, "every family, always"
    assert [s.labels for s in found["chainlake_queue_depth"].samples] == [{"queue": "run_tasks"}]
    assert [s.value for s in found["chainlake_dead_letters"].samples] == [2.0]
    depth = found["chainlake_reorg_depth_blocks"].samples
    assert {s.labels["chain"] for s in depth} == {"main"}
    assert parsed(metrics)["chainlake_scrape_errors"][(("source", "value"),)] == 5


def test_postgres_not_answering_leaves_its_families_out_and_the_scrape_answers() -> None:
    metrics = RunnerMetrics()
    metrics.runs_started.labels("acme", "daily").inc()
    metrics.attach(PostgresCollector("postgresql://nobody@127.0.0.1:1/none", metrics))
    scraped = parsed(metrics)
    assert scraped["chainlake_runs_started"] == {(("job", "daily"), ("org", "acme")): 1.0}
    assert "chainlake_queue_depth" not in scraped
    assert scraped["chainlake_scrape_errors"][(("source", "postgres"),)] == 1


def test_a_bad_metric_event_of_a_platform_job_is_counted_never_raised() -> None:
    metrics = RunnerMetrics()
    lag = {"type": "metric", "name": "chainlake_ingest_lag_blocks", "value": "many"}
    assert metrics.platform_event("main", lag)
    assert metrics.platform_event("main", {**lag, "value": 7})
    assert not metrics.platform_event("main", {"type": "metric", "name": "rows", "value": 1})
    scraped = parsed(metrics)
    assert scraped["chainlake_ingest_lag_blocks"] == {(("chain", "main"),): 7.0}
    assert scraped["chainlake_scrape_errors"][(("source", "event"),)] == 1
