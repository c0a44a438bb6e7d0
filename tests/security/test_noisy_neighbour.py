"""The noisy-neighbour suite of issue 14 ("Checked by"): while org evil runs every denial of
service of the issue at once (slow rules, lock attempts and long transactions, a connection
flood, a delivery flood to a webhook that never answers, slot hogging, junk-issuer tokens, huge
results), org acme's run starts, its alert is delivered, its /v1/whoami answers and ingest keeps
up, each within generous bounds (these machines are shared and noisy: the timing itself is
bench/neighbour.py's), and each of evil's attacks is seen refused or contained.

The scenario, real parts only, is tests/security/neighbour_kit.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainlake.alerts.deliver import PER_ORG_SENDERS
from tests.harness import TestCluster
from tests.security.neighbour_kit import (
    EvilGot,
    Neighbourhood,
    Samples,
    attacking,
    measure,
    neighbourhood,
)

PHASE_S = 20
TX_PER_SECOND = 10.0
# 10x the goals (2 s, 1 s, 200 ms, 100 ms) or more. Whoami 25x: the API process's CPU is
# shared by every org's queries, and six of evil's streams take most of it (docs/tenancy.md,
# "Noisy neighbours": whoami's p50 is 2-5x its goal under the whole attack on a busy 2-core
# machine).
BOUNDS_MS = {"run_start": 20_000, "alert_delivery": 10_000, "whoami": 5_000, "tip_lag": 5_000}
CONNECTION_LIMIT = 10  # sql_connections_per_user
RUNNER_ORG_CAP = 3  # a runner of 4 tenant slots gives one org all but one


@pytest.fixture
def hood(cluster: TestCluster, database: str, tmp_path: Path) -> Iterator[Neighbourhood]:
    with neighbourhood(cluster.pg, database, tmp_path, TX_PER_SECOND) as running:
        yield running


def test_acme_is_served_while_evil_attacks_with_everything_at_once(hood: Neighbourhood) -> None:
    with attacking(hood) as attack:
        acme = measure(hood, PHASE_S)
        evil = attack.stop()
    assert hood.failures == [], "a platform loop died"
    assert_acme_served(acme)
    assert_evil_refused_or_contained(evil)


def assert_acme_served(acme: Samples) -> None:
    assert not acme.missed, f"acme went without: {dict(acme.missed)}"
    for name, bound in BOUNDS_MS.items():
        values = getattr(acme, f"{name}_ms")
        assert values, f"no {name} sample"
        assert max(values) < bound, f"acme's {name}: {sorted(values)[-5:]} ms (bound {bound})"
    assert len(acme.tip_lag_ms) >= PHASE_S / 0.4 * 0.8, "ingest kept up with the node"


def assert_evil_refused_or_contained(evil: EvilGot) -> None:
    counts = evil.counts
    taken = [k for k in counts if k.startswith("lock taken")]
    assert counts["lock refused"] > 0 and not taken, taken
    assert 0 < counts["most connections held"] < CONNECTION_LIMIT, counts
    assert counts["connections refused"] > 0, counts
    for role in ("reader", "writer", "admin"):  # the watchdog's bound is 10 s; the phase 20 s
        assert counts[f"{role} transactions ended"] >= 1, f"{role}'s transaction was not ended"
    assert counts["junk token 401"] > 0, counts
    assert [k for k in counts if k.startswith("junk token")] == ["junk token 401"], counts
    assert evil.provider_connections <= 3, "the provider that is down was asked every time"
    statuses = {k for k in counts if k.startswith("huge result ") and k[-3:].isdigit()}
    assert statuses == {"huge result 200", "huge result 429"}, counts
    assert evil.slow_condition is not None, "no condition was admitted"
    assert (evil.rules["h3"] or "").startswith("took more than"), evil.rules
    assert evil.hog_most_running <= RUNNER_ORG_CAP, "evil held every tenant slot"
    assert counts["queue quota refused"] > 0, counts
    assert evil.deliveries["delivered"] == 0 and evil.deliveries["attempts"] > 0, evil.deliveries
    assert evil.delivery_errors <= {"timed out"}, evil.delivery_errors
    assert evil.hole_most_open <= PER_ORG_SENDERS, "evil held more senders than its share"
