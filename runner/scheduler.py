"""The runners' schedule tick: cron activation (each due schedule fires once per tick, however
many runners call this), always_on supervision, and the watchdog on users' open transactions.
Each tick step stands alone, and one org's bad row fails only that org's schedule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from croniter import croniter

log = logging.getLogger("chainlake.runner")


def fire_due(conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
    """Fire every schedule due at `now` (its latest due tick only); return how many fired. A
    schedule that cannot be evaluated or fired is set aside with its reason (its org sees it in
    `chainlake job list`); the others fire."""
    moment = now or datetime.now(UTC)
    fired = 0
    with conn.transaction():
        due = conn.execute(
            "SELECT org_id, job_name, cron, tick FROM jobs.due_schedules(%s)", (moment,)
        ).fetchall()
        for org_id, job_name, cron, due_tick in due:
            fired += fire_one(conn, moment, org_id, job_name, cron, due_tick)
    return fired


def fire_one(
    conn: psycopg.Connection[Any],
    moment: datetime,
    org_id: Any,
    job_name: str,
    cron: str,
    due_tick: datetime,
) -> bool:
    """Fire one schedule inside a savepoint; on any failure undo just that and set it aside."""
    try:
        with conn.transaction():
            latest: datetime = croniter(cron, moment).get_prev(datetime)  # missed ticks: once
            following: datetime = croniter(cron, moment).get_next(datetime)
            conn.execute(
                "SELECT jobs.schedule_fired(%s, %s, %s, %s)",
                (org_id, job_name, max(latest, due_tick), following),
            )
        return True
    except Exception as exc:  # a tenant's schedule: whatever it raises, it fails only itself
        reason = f"schedule {cron!r} cannot fire: {type(exc).__name__}: {exc}"
        log.warning("job %s of org %s set aside: %s", job_name, org_id, reason)
        conn.execute("SELECT jobs.schedule_failed(%s, %s, %s)", (org_id, job_name, reason))
        return False


def supervise_always_on(conn: psycopg.Connection[Any]) -> None:
    """Start a run of every always_on job that has none (sql/runs/50_runs.sql)."""
    conn.execute("SELECT jobs.supervise_always_on()")


def end_overdue_sessions(conn: psycopg.Connection[Any]) -> None:
    """The watchdog: end users' sessions held in one transaction past their bounds."""
    for pid, role, reason in conn.execute("SELECT * FROM core.end_overdue_sessions()"):
        log.warning("ended session %s of %s: %s", pid, role, reason)


TICK = (fire_due, supervise_always_on, end_overdue_sessions)
