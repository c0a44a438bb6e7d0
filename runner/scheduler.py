"""Cron activation: fire each due schedule once per tick, however many runners call this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from croniter import croniter


def fire_due(conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
    """Fire every schedule due at `now` (its latest due tick only); return how many fired."""
    moment = now or datetime.now(UTC)
    fired = 0
    with conn.transaction():
        due = conn.execute(
            "SELECT org_id, job_name, cron, tick FROM jobs.due_schedules(%s)", (moment,)
        ).fetchall()
        for org_id, job_name, cron, due_tick in due:
            latest: datetime = croniter(cron, moment).get_prev(datetime)  # missed ticks: once
            following: datetime = croniter(cron, moment).get_next(datetime)
            conn.execute(
                "SELECT jobs.schedule_fired(%s, %s, %s, %s)",
                (org_id, job_name, max(latest, due_tick), following),
            )
            fired += 1
    return fired
