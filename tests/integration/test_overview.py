"""The operator's overview (`chainlake top`, alerts.platform_overview): every org's load in one
document, readable by the operator only."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from chainlake.cli.top import view
from chainlake.domain.overview import platform_overview
from tests.tenants import Tenants

RUN = (
    "INSERT INTO runs.runs (org_id, job_name, job_version, status, finished_at) "
    "VALUES (%s, 'j', '1', %s, %s)"
)


def test_the_overview_counts_every_orgs_runs_and_names_the_busiest(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    a, b = tenants.org_ids["a"], tenants.org_ids["b"]
    admin.execute("DELETE FROM runs.runs")  # the tenants' seed runs: counted from nothing
    for org, status, finished in (
        (a, "running", None),
        (a, "running", None),
        (a, "queued", None),
        (a, "succeeded", "now()"),
        (b, "failed", "now()"),
        (b, "succeeded", "now() - interval '1 hour'"),  # outside every window
    ):
        admin.execute(RUN.replace("%s)", f"{finished or 'NULL'})", 1), (org, status))
    admin.execute("SELECT chain.register_chain(5, 'five', 0, 64, 100)")
    overview = platform_overview(admin)
    runs = overview["runs"]
    assert (runs["running"], runs["queued"]) == (2, 1), runs
    assert (runs["succeeded_5m"], runs["failed_5m"]) == (1, 1), runs
    busiest = [(o["org"], o["running"], o["failed_15m"]) for o in overview["busiest_orgs"]]
    assert busiest[:2] == [("a", 2, 0), ("b", 0, 1)], busiest
    assert [q["name"] for q in overview["queues"]] == ["run_tasks", "alert_deliveries"]
    (chain,) = overview["chains"]
    assert chain["chain_id"] == 5 and chain["stored_tip"] is None, "registered, nothing stored"
    drawn = view(overview)  # what `top` draws from it, without a terminal
    assert len(drawn.renderables) == 6


@pytest.mark.parametrize("role", ["reader", "writer", "admin"])
def test_no_member_of_an_org_reads_the_overview(tenants: Tenants, role: str) -> None:
    with (
        tenants.login(tenants.user("a", role)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT alerts.platform_overview()")
