"""H2: one tenant's bad row never takes a shared loop down (SECURITY.md item 22).

A cron string croniter cannot parse, applied with `jobs.apply_definition` directly (skipping the
CLI's check), crashed the runner loop for every org, again at each restart. Now a schedule is
checked where it is stored (any client: the function, a direct INSERT or UPDATE), and one the
scheduler still cannot evaluate (it passes the pattern but never fires) is set aside with its
reason while every other org's schedules fire. The same holds for the other shared loops over
tenants' rows: always_on supervision and alert delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import errors

from chainlake import jobdefs
from chainlake.alerts.deliver import Deliverer
from chainlake.domain.jobs import list_jobs
from chainlake.errors import InvalidInput
from runner.scheduler import fire_due
from tests.runtime import TEST_JOBS, apply, running_runner, runs, scalar, wait_for
from tests.tenants import Tenants

BAD_SCHEDULES = (
    "not a cron",
    "61 * * * *",
    "* * * *",
    "*/0 * * * *",
    "* * * * * *",  # every second: not a schedule we run
    "@every 5m",
    "0 0 L * *",
    "1; DROP TABLE jobs.schedules",
)
NEVER_FIRES = "0 0 31 2 *"  # passes every pattern; croniter finds no next date


def spec(**overrides: Any) -> dict[str, Any]:
    return jobdefs.load(TEST_JOBS / "behave.yaml") | overrides


def apply_directly(tenants: Tenants, org: str, definition: dict[str, Any]) -> None:
    """As the org's writer, through the stored function alone (no CLI check)."""
    with tenants.login(tenants.user(org, "writer")) as conn:
        conn.execute(
            "SELECT jobs.apply_definition(%s, %s, now() - interval '1 second')",
            (tenants.org_ids[org], json.dumps(definition)),
        )


@pytest.mark.parametrize("schedule", BAD_SCHEDULES)
def test_a_bad_schedule_is_refused_where_it_is_stored_and_nothing_is_stored(
    tenants: Tenants, admin: psycopg.Connection[Any], schedule: str
) -> None:
    bad = spec(name="badcron", activation="cron", schedule=schedule)
    with pytest.raises(errors.InvalidParameterValue, match="schedule") as refused:
        apply_directly(tenants, "b", bad)
    assert schedule in str(refused.value)
    assert scalar(admin, "SELECT count(*) FROM jobs.definitions WHERE name = 'badcron'") == 0
    assert scalar(admin, "SELECT count(*) FROM jobs.schedules WHERE job_name = 'badcron'") == 0
    with (
        tenants.login(tenants.user("b", "writer")) as conn,
        pytest.raises(errors.InvalidParameterValue, match="schedule"),
    ):
        conn.execute("UPDATE jobs.schedules SET cron = %s", (schedule,))
    with (
        tenants.login(tenants.user("b", "writer")) as conn,
        pytest.raises(errors.InvalidParameterValue, match="schedule"),
    ):
        conn.execute(
            "INSERT INTO jobs.schedules (org_id, job_name, cron, next_fire_at) "
            "VALUES (%s, 'direct', %s, now())",
            (tenants.org_ids["b"], schedule),
        )


def test_good_schedules_are_kept(tenants: Tenants, admin: psycopg.Connection[Any]) -> None:
    for n, schedule in enumerate(
        ("*/5 * * * *", "0 0 * jan-mar mon-fri", "1-5/2 3,4 * * 0-7", "@hourly", "0 0 1 1 *")
    ):
        apply_directly(tenants, "b", spec(name=f"good{n}", activation="cron", schedule=schedule))
    assert scalar(admin, "SELECT count(*) FROM jobs.schedules WHERE job_name LIKE 'good%%'") == 5


def test_the_cli_check_refuses_a_schedule_that_never_fires() -> None:
    with pytest.raises(InvalidInput, match="never fires"):
        jobdefs.check(spec(activation="cron", schedule=NEVER_FIRES))


def test_a_schedule_that_cannot_fire_is_set_aside_and_every_other_org_fires(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    apply(
        tenants,
        tenants.user("a", "writer"),
        TEST_JOBS / "behave.yaml",
        activation="cron",
        schedule="* * * * *",
    )
    apply_directly(tenants, "b", spec(activation="cron", schedule=NEVER_FIRES))
    with admin.transaction():  # a row from before the stored check existed
        admin.execute("SET LOCAL session_replication_role = replica")
        admin.execute(
            "INSERT INTO jobs.schedules (org_id, job_name, cron, next_fire_at) "
            "VALUES (%s, 'legacy', 'not a cron', now() - interval '1 minute')",
            (tenants.org_ids["c"],),
        )
    admin.execute("DELETE FROM jobs.schedules WHERE job_name LIKE 'job%'")  # the seed rows
    admin.execute("UPDATE jobs.schedules SET next_fire_at = now() - interval '1 minute'")
    url = tenants.cluster.url(tenants.database, "chainlake_runner")
    with psycopg.connect(url) as conn:
        assert fire_due(conn) == 1
        assert fire_due(conn, datetime.now(UTC) + timedelta(minutes=2)) == 1  # a's next tick
    assert [r["trigger"]["kind"] for r in runs(admin, tenants.org_ids["a"])] == ["cron", "cron"]
    assert runs(admin, tenants.org_ids["b"]) == []
    aside = dict(
        admin.execute(
            "SELECT job_name, last_error FROM jobs.schedules WHERE last_error IS NOT NULL"
        ).fetchall()
    )
    assert set(aside) == {"behave", "legacy"}
    assert NEVER_FIRES in aside["behave"] and "not a cron" in aside["legacy"]
    # the writer sees why in `job list`, and applying the job again puts it back
    with tenants.login(tenants.user("b", "reader")) as conn:
        (listed,) = [j for j in list_jobs(conn, org="b") if j["name"] == "behave"]
    assert NEVER_FIRES in listed["schedule_error"]
    apply(
        tenants,
        tenants.user("b", "writer"),
        TEST_JOBS / "behave.yaml",
        version="2",
        activation="cron",
        schedule="*/5 * * * *",
    )
    row = admin.execute(
        "SELECT last_error, next_fire_at > now() FROM jobs.schedules "
        "WHERE org_id = %s AND job_name = 'behave'",
        (tenants.org_ids["b"],),
    ).fetchone()
    assert row == (None, True)


def test_a_runner_keeps_serving_every_org_past_a_bad_schedule(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    apply_directly(tenants, "b", spec(activation="cron", schedule=NEVER_FIRES))
    apply(
        tenants,
        tenants.user("a", "writer"),
        TEST_JOBS / "behave.yaml",
        activation="cron",
        schedule="0 0 1 1 *",
    )
    admin.execute("UPDATE jobs.schedules SET next_fire_at = now() - interval '1 second'")
    with running_runner(tenants, tmp_path) as runner:
        wait_for(
            lambda: [r for r in runs(admin, tenants.org_ids["a"]) if r["status"] == "succeeded"]
        )
        assert not runner.stopping.is_set()


def test_always_on_supervision_skips_one_orgs_broken_definition(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    apply_directly(tenants, "b", spec(activation="always_on", retries={"max_attempts": "many"}))
    apply(tenants, tenants.user("a", "writer"), TEST_JOBS / "behave.yaml", activation="always_on")
    url = tenants.cluster.url(tenants.database, "chainlake_runner")
    with psycopg.connect(url) as conn:
        conn.execute("SELECT jobs.supervise_always_on()")
    assert [r["trigger"]["kind"] for r in runs(admin, tenants.org_ids["a"])] == ["always_on"]
    assert runs(admin, tenants.org_ids["b"]) == []


def test_a_channel_that_breaks_the_sender_fails_its_own_delivery_only(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """Org b's channel breaks the sender outright (a secret that is no ciphertext, written by
    b's writer); b's delivery fails with a reason and org a's delivery, queued behind it, is
    still attempted. (A port that is no number no longer gets that far: it is refused when the
    channel is saved.)"""
    org = {o: tenants.org_ids[o] for o in ("a", "b")}
    with tenants.login(tenants.user("b", "writer")) as conn:
        with pytest.raises(errors.InvalidParameterValue, match="is not a port"):
            conn.execute(
                "INSERT INTO alerts.channels (org_id, name, kind, target, config) VALUES "
                "(%s, 'mail', 'email', 'x@b.example', '{\"port\": \"not-a-port\"}')",
                (org["b"],),
            )
        conn.execute(
            "INSERT INTO alerts.channels (org_id, name, kind, target) "
            "VALUES (%s, 'hook', 'webhook', 'http://127.0.0.1:9/hook')",
            (org["b"],),
        )
        conn.execute("UPDATE alerts.channels SET secret_enc = '\\x00' WHERE name = 'hook'")
    with tenants.login(tenants.user("a", "writer")) as conn:
        conn.execute(  # fails cleanly before any network: its config lacks the provider
            "INSERT INTO alerts.channels (org_id, name, kind, target) "
            "VALUES (%s, 'text', 'sms', '+15550100')",
            (org["a"],),
        )
    for name, channels in (("b", ["hook"]), ("a", ["text"])):
        admin.execute(
            "INSERT INTO alerts.rules (org_id, name, dataset, condition, channels, enabled) "
            "VALUES (%s, 'h2', 'chain.blocks', 'gas_used > 0', %s, false)",
            (org[name], channels),
        )
        admin.execute(
            "WITH f AS (INSERT INTO alerts.firings (org_id, rule_id, chain_id, from_block, "
            "to_block, block_hash, match_key, dedup_value) SELECT org_id, id, 1, 1, 1, "
            "'\\x01', 'h2', 'h2' FROM alerts.rules WHERE org_id = %s AND name = 'h2' "
            "RETURNING id) SELECT alerts.announce(id, 'fired') FROM f",
            (org[name],),
        )
    url = tenants.cluster.url(tenants.database, "chainlake_alerts")
    deliverer = Deliverer(url, Fernet.generate_key(), log=lambda _m: None)
    with psycopg.connect(url, autocommit=True) as conn:
        assert deliverer.deliver_once(conn) == 2
    attempted = {
        (r[0], r[1]): r[2]
        for r in admin.execute(
            "SELECT o.name, d.channel, d.last_error FROM alerts.deliveries d "
            "JOIN core.orgs o ON o.id = d.org_id WHERE d.attempts = 1"
        )
    }
    assert set(attempted) == {("b", "hook"), ("a", "text")}
    assert all(attempted.values()), attempted
