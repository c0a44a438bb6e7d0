"""Cost per org (issue 22 item 2): a process job's attempt records its CPU seconds and peak
memory (rusage), a container job's its cgroup figures; `chainlake usage` and GET /v1/usage sum
them per org and day for members of that org only; a query through the API adds its row; the
daily CPU-seconds quota refuses the next run request, naming the quota and the figure."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from chainlake.cli import main
from chainlake.client import Client
from chainlake.client.profiles import Profile, Profiles
from chainlake.db import runner_transaction
from chainlake.domain import usage as usage_domain
from chainlake.errors import InvalidInput, NotFound, QuotaExceeded
from tests.integration.conftest import call, token
from tests.runtime import TEST_JOBS, apply, request_run, running_runner, wait_for
from tests.tenants import Tenants

BURN = {"do": "burn", "seconds": 1, "mb": 100}
MB = 1 << 20


def finished(admin: psycopg.Connection[Any], run_id: str) -> dict[str, Any] | None:
    row = admin.execute(
        "SELECT status, error FROM runs.runs WHERE id = %s AND status IN "
        "('succeeded', 'failed', 'dead')",
        (run_id,),
    ).fetchone()
    return None if row is None else {"status": row[0], "error": row[1]}


def attempt_usage(admin: psycopg.Connection[Any], run_id: str) -> tuple[Any, ...]:
    row = admin.execute(
        "SELECT cpu_seconds, peak_memory_bytes, usage_source, usage_recorded_at "
        "FROM runs.attempts WHERE run_id = %s AND attempt = 1",
        (run_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def today(items: list[dict[str, Any]], org: str) -> dict[str, Any]:
    (row,) = [
        r for r in items if r["org"] == org and r["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    ]
    return row


def cli_usage(tmp_path: Path, api: str, bearer: str, *args: str) -> Any:
    """`chainlake usage ARGS --json` through a profile signed in with `bearer`."""
    config = tmp_path / "laptop-config"
    profiles = Profiles.load(config / "chainlake" / "profiles.json")
    profiles.put(
        Profile("member", api, "dev", "", "chainlake", "cli", "device", access_token=bearer)
    )
    profiles.save()
    env = {"XDG_CONFIG_HOME": str(config), "CHAINLAKE_PROFILE": "member"}
    result = CliRunner().invoke(main, ["usage", *args], env=env, catch_exceptions=False)
    return result


def test_a_process_job_s_usage_is_recorded_summed_per_org_and_held_to_the_quota(
    api: str, tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    writer = tenants.user("a", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml", retries={"max_attempts": 1})
    with running_runner(tenants, tmp_path / "storage"):
        run_id = request_run(tenants, writer, "behave", BURN)["id"]
        done = wait_for(lambda: finished(admin, run_id), timeout=90)
    assert done["status"] == "succeeded", done["error"]
    cpu, peak, source, recorded = attempt_usage(admin, run_id)
    assert source == "rusage" and recorded is not None
    assert cpu >= 0.5, f"the job spun ~1 s of CPU, the attempt says {cpu}"
    assert peak >= 80 * MB, f"the job held 100 MB, the attempt says {peak}"

    # recorded once, by the runner holding the attempt: a later call changes nothing
    org_a = tenants.org_ids["a"]
    url = tenants.cluster.url(tenants.database, "chainlake_runner")
    with psycopg.connect(url) as conn, runner_transaction(conn, org_a) as cur:
        again = cur.execute(
            "SELECT runs.record_usage(%s, 1, 'forger', 0, 0, 'rusage') AS held", (run_id,)
        ).fetchone()
    assert again == {"held": False}
    # even the runner that held it, were the attempt its own again, records it only once
    admin.execute(
        "UPDATE runs.runs SET status = 'running', lease_until = now() + interval '1 minute' "
        "WHERE id = %s",
        (run_id,),
    )
    holder = admin.execute("SELECT runner FROM runs.attempts WHERE run_id = %s", (run_id,))
    (name,) = holder.fetchone() or ("",)
    with (
        pytest.raises(psycopg.errors.UniqueViolation, match="recorded already"),
        psycopg.connect(url) as conn,
        runner_transaction(conn, org_a) as cur,
    ):
        cur.execute("SELECT runs.record_usage(%s, 1, %s, 0, 0, 'rusage')", (run_id, name))
    admin.execute("UPDATE runs.runs SET status = 'succeeded' WHERE id = %s", (run_id,))
    assert attempt_usage(admin, run_id) == (cpu, peak, source, recorded)

    # the day's sums, for a member of org a: through the API and through `chainlake usage`
    reader = Client(api, token(tmp_path, tenants.user("a", "reader")))
    summed = today(reader.usage(org="a", days=1), "a")
    assert summed["attempts"] >= 1 and summed["cpu_seconds"] >= 0.5
    assert summed["peak_memory_bytes"] >= 80 * MB
    assert summed["bytes_written"] > 0, "the run's dataset version has bytes"
    shown = cli_usage(
        tmp_path,
        api,
        token(tmp_path, tenants.user("a", "reader")),
        "--org",
        "a",
        "--days",
        "1",
        "--json",
    )
    assert shown.exit_code == 0, shown.output
    assert today(json.loads(shown.output), "a")["cpu_seconds"] == summed["cpu_seconds"]

    # a query through the API adds its row, and the day's query sums move
    bearer = token(tmp_path, tenants.user("a", "reader"))
    status, _, body = call(api, "/v1/query", {"sql": "SELECT 42 AS answer"}, bearer)
    assert status == 200, body
    after = today(reader.usage(org="a", days=1), "a")
    assert after["queries"] == summed["queries"] + 1
    assert after["result_bytes"] > summed["result_bytes"] and after["query_seconds"] > 0
    assert after["bytes_scanned"] is None, "DuckDB reports no bytes scanned: NULL, not made up"
    # a streamed download is charged its bytes once its last one went out, rows unknown
    stream = {"sql": "SELECT * FROM range(1000)", "format": "csv"}
    status, _, body = call(api, "/v1/query", stream, bearer)
    assert status == 200 and len(body) > 1000
    streamed = wait_for(
        lambda: admin.execute(
            "SELECT row_count, result_bytes FROM catalog.query_usage "
            "WHERE org_id = %s AND row_count IS NULL",
            (tenants.org_ids["a"],),
        ).fetchone(),
        timeout=30,
    )
    assert streamed == (None, len(body)), "the bytes sent, and no made-up row count"

    # the operator reads every org's usage through the same domain function
    assert today(usage_domain.usage(admin, days=1), "a")["attempts"] == after["attempts"]

    # org b's member sees none of org a's usage
    bob = Client(api, token(tmp_path, tenants.user("b", "admin")))
    assert [r for r in bob.usage(days=1) if r["org"] == "a"] == []
    with pytest.raises(NotFound, match='no org "a" among the orgs you are a member of'):
        bob.usage(org="a", days=1)
    refused = cli_usage(tmp_path, api, token(tmp_path, tenants.user("b", "admin")), "--org", "a")
    assert refused.exit_code != 0 and 'no org "a"' in refused.output
    # bad input: one clear line, nothing changes
    bad = cli_usage(tmp_path, api, bearer, "--days", "0")
    assert bad.exit_code != 0 and "--days" in bad.output
    with pytest.raises(InvalidInput, match="days"):
        reader.usage(org="a", days=0)

    # the daily CPU quota: set below today's usage, the next request is refused naming it
    admin.execute("UPDATE core.quotas SET cpu_seconds_per_day = 0.1 WHERE org_id = %s", (org_a,))
    runs_before = admin.execute("SELECT count(*) FROM runs.runs").fetchone()
    wes = Client(api, token(tmp_path, writer))
    with pytest.raises(QuotaExceeded, match=r"cpu_seconds_per_day quota of 0\.1") as refusal:
        wes.run_job(org="a", name="behave", params={"do": "ok"})
    assert f"used {round(cpu, 1)}" in str(refusal.value) or "CPU seconds today" in str(
        refusal.value
    )
    assert admin.execute("SELECT count(*) FROM runs.runs").fetchone() == runs_before
    apply(tenants, tenants.user("b", "writer"), TEST_JOBS / "behave.yaml")
    assert request_run(tenants, tenants.user("b", "writer"), "behave")["status"] == "queued"


def test_a_container_job_records_its_cgroup_figures(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, images: dict[str, str]
) -> None:
    writer = tenants.user("b", "writer")
    launcher = {"kind": "container", "image": images["behave"], "command": ["python3", "behave.py"]}
    apply(
        tenants, writer, TEST_JOBS / "behave.yaml", retries={"max_attempts": 1}, launcher=launcher
    )
    with running_runner(tenants, tmp_path):
        run_id = request_run(tenants, writer, "behave", BURN)["id"]
        done = wait_for(lambda: finished(admin, run_id), timeout=120)
    assert done["status"] == "succeeded", done["error"]
    cpu, peak, source, recorded = attempt_usage(admin, run_id)
    assert source == "cgroup" and recorded is not None
    assert cpu >= 0.5, f"the container spun ~1 s of CPU, the attempt says {cpu}"
    assert peak >= 80 * MB, f"the container held 100 MB, the attempt says {peak}"
