"""Runs: list (filters, pages), show, logs, cancel, rerun, rerun from failure; dead letters (list,
replay). Thin calls of sql/51_runs_domain.sql and sql/50_runs.sql; row-level security decides
what the caller sees, the stored functions who may change what."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg

from chainlake.domain import one, rows
from chainlake.errors import InvalidInput, NotFound

Conn = psycopg.Connection[Any]
FINAL_STATUSES = ("succeeded", "failed", "dead", "cancelled")
STATUSES = ("queued", "running", "retrying", *FINAL_STATUSES)
MAX_WAIT_SECONDS = 60.0  # the longest one request waits for a run (the API's `wait`)


def check_run_id(run_id: str, field: str = "run_id") -> str:
    """A run id is a UUID; anything else is refused naming the field."""
    try:
        return str(uuid.UUID(run_id))
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput(f"{field}: {run_id!r} is not a run id (a UUID)") from None


def org_id(conn: Conn, org: str) -> str:
    """The id of an org the caller can see, by name (NotFound otherwise): what the stored
    functions that act in an org take."""
    return str(one(conn, "SELECT runs.org_id(p_name => %(org)s) AS id", {"org": org})["id"])


def list_runs(
    conn: Conn,
    *,
    org: str | None = None,
    job: str | None = None,
    status: str | None = None,
    trigger: str | None = None,
    since: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Runs newest first, a page at a time: `items`, and `next` (the `after` of the next page)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit: {limit} is not between 1 and 1000")
    found = rows(
        conn,
        "SELECT * FROM runs.list(p_org => %(org)s, p_job => %(job)s, p_status => %(status)s, p_trigger => %(trigger)s, p_since => %(since)s, p_after => %(after)s, p_limit => %(limit)s)",  # noqa: E501
        {
            "org": org,
            "job": job,
            "status": status,
            "trigger": trigger,
            "since": _time(since, "since"),
            "after": after,
            "limit": limit,
        },
    )
    return {"items": found, "next": found[-1]["id"] if len(found) == limit else None}


def show_run(conn: Conn, *, run_id: str) -> dict[str, Any]:
    """Everything about one run: trigger, params, inputs, outputs, error, attempts."""
    found = one(
        conn,
        "SELECT runs.show(p_run_id => %(id)s) AS run",
        {"id": check_run_id(run_id)},
    )["run"]
    if found is None:
        raise NotFound(f"unknown run {run_id}", "list runs with `chainlake run list`")
    return dict(found)


def poll_delays(first: float = 0.002, most: float = 0.25) -> Iterator[float]:
    """The pauses between two looks at a run that is not final yet: a few milliseconds at first
    (a no-op run ends in tens of them), growing by a quarter each time to `most`."""
    delay = first
    while True:
        yield delay
        delay = min(most, delay * 1.25)


def await_run(conn: Conn, *, run_id: str, seconds: float) -> dict[str, Any]:
    """The run once it is final, or as it is after `seconds` (at most MAX_WAIT_SECONDS a call);
    each look is one statement (autocommit, or READ COMMITTED: each sees the newest)."""
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise InvalidInput(f"seconds: {seconds:g} is not between 0 and {MAX_WAIT_SECONDS:g}")
    ends = time.monotonic() + seconds
    pauses = poll_delays()
    while True:
        run = show_run(conn, run_id=run_id)
        left = ends - time.monotonic()
        if run["status"] in FINAL_STATUSES or left <= 0:
            return run
        time.sleep(min(left, next(pauses)))


def run_logs(conn: Conn, *, run_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
    """A run's events after sequence number `after`: `items`, `next` (the last seq, the `after`
    of the next call) and the run's `status` (final: no more events will come)."""
    if after < 0:
        raise InvalidInput(f"after: {after} is negative")
    if not 1 <= limit <= 10000:
        raise InvalidInput(f"limit: {limit} is not between 1 and 10000")
    found = rows(
        conn,
        "SELECT * FROM runs.logs_after(p_run_id => %(id)s, p_after_seq => %(after)s, p_limit => %(limit)s)",  # noqa: E501
        {"id": check_run_id(run_id), "after": after, "limit": limit},
    )
    events = [{k: v for k, v in r.items() if k != "run_status"} for r in found if r["seq"]]
    return {
        "items": events,
        "next": events[-1]["seq"] if events else after,
        "status": found[0]["run_status"] if found else None,
    }


def cancel_run(conn: Conn, *, run_id: str) -> dict[str, Any]:
    """A queued, retrying or running run becomes `cancelled` (writers of its org)."""
    return one(
        conn,
        "SELECT id, job_name, status, finished_at FROM runs.cancel(p_run_id => %(id)s)",
        {"id": check_run_id(run_id)},
    )


def rerun(conn: Conn, *, run_id: str, from_failure: bool = False) -> dict[str, Any]:
    """The same job again with the same params and inputs (`run`: the new run); with
    `from_failure`, every failed run of the DAG run `run_id` set off (`queued`: how many)."""
    checked = check_run_id(run_id)
    if from_failure:
        queued = one(conn, "SELECT runs.rerun_failed(p_root => %(id)s) AS n", {"id": checked})
        return {"rerun_of": checked, "queued": int(queued["n"]), "run": None}
    again = one(
        conn,
        "SELECT id, job_name, job_version, status FROM runs.rerun(p_run_id => %(id)s)",
        {"id": checked},
    )
    return {"rerun_of": checked, "queued": 1, "run": again}


def list_dead_letters(
    conn: Conn, *, org: str | None = None, after: int | None = None, limit: int = 100
) -> dict[str, Any]:
    """Runs that used up their attempts, newest first, with their last error; a page."""
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit: {limit} is not between 1 and 1000")
    found = rows(
        conn,
        "SELECT * FROM runs.list_dead_letters(p_org => %(org)s, p_after => %(after)s, p_limit => %(limit)s)",  # noqa: E501
        {"org": org, "after": after, "limit": limit},
    )
    return {"items": found, "next": str(found[-1]["id"]) if len(found) == limit else None}


def replay_dead_letter(conn: Conn, *, letter_id: int) -> dict[str, Any]:
    """Run a dead letter's job again with the same params and inputs (writers of its org)."""
    return one(
        conn,
        "SELECT id, job_name, job_version, status FROM runs.replay(p_letter_id => %(id)s)",
        {"id": letter_id},
    )


def _time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time a user gave (a date alone is its midnight, UTC)."""
    if value is None:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            f"{field}: {value!r} is not a time", "give YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]"
        ) from exc
    return found if found.tzinfo else found.replace(tzinfo=UTC)
