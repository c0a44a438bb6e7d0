"""Runs seen from the CLI and API: request, list, show, logs, dead letters. Thin calls; the
rules live in sql/runs/50_runs.sql and row-level security decides what the caller sees."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from chainlake.db import call
from chainlake.errors import NotFound

Conn = psycopg.Connection[Any]
FINAL_STATUSES = ("succeeded", "failed", "dead")


def org_id(conn: Conn, name: str) -> str:
    rows = call(conn, "SELECT id FROM core.orgs WHERE name = %(name)s", {"name": name})
    if not rows:
        raise NotFound(f'unknown org "{name}"', "list orgs with `chainlake org list`")
    return str(rows[0]["id"])


def request(
    conn: Conn, org: str, job: str, params: dict[str, Any], idempotency_key: str | None = None
) -> dict[str, Any]:
    return call(
        conn,
        "SELECT * FROM runs.request(%(org)s, %(job)s, %(params)s, p_idempotency_key => %(key)s)",
        {
            "org": org_id(conn, org),
            "job": job,
            "params": json.dumps(params),
            "key": idempotency_key,
        },
    )[0]


def get(conn: Conn, run_id: str) -> dict[str, Any]:
    rows = call(
        conn,
        "SELECT r.*, o.name AS org, u.email AS initiated_by_email FROM runs.runs r "
        "JOIN core.orgs o ON o.id = r.org_id LEFT JOIN core.users u ON u.id = r.initiated_by "
        "WHERE r.id = core.try_uuid(%(id)s)",
        {"id": run_id},
    )
    if not rows:
        raise NotFound(f"unknown run {run_id}", "list runs with `chainlake run list`")
    return rows[0]


def show(conn: Conn, run_id: str) -> dict[str, Any]:
    run = get(conn, run_id)
    run["attempts"] = call(
        conn,
        "SELECT attempt, runner, status, started_at, finished_at, error FROM runs.attempts "
        "WHERE run_id = %(id)s ORDER BY attempt",
        {"id": run["id"]},
    )
    run["duration_seconds"] = (
        (run["finished_at"] - run["started_at"]).total_seconds()
        if run["finished_at"] and run["started_at"]
        else None
    )
    return run


def list_runs(conn: Conn, org: str | None, job: str | None, limit: int) -> list[dict[str, Any]]:
    return call(
        conn,
        "SELECT r.id, o.name AS org, r.job_name, r.job_version, r.status, r.attempt, "
        "r.trigger ->> 'kind' AS trigger, r.created_at, r.finished_at FROM runs.runs r "
        "JOIN core.orgs o ON o.id = r.org_id "
        "WHERE (%(org)s::text IS NULL OR o.name = %(org)s) "
        "AND (%(job)s::text IS NULL OR r.job_name = %(job)s) "
        "ORDER BY r.created_at DESC LIMIT %(limit)s",
        {"org": org, "job": job, "limit": limit},
    )


def logs(conn: Conn, run_id: str, after_seq: int = 0) -> list[dict[str, Any]]:
    return call(
        conn,
        "SELECT seq, attempt, at, event FROM runs.logs WHERE run_id = %(id)s AND seq > %(after)s "
        "ORDER BY seq",
        {"id": run_id, "after": after_seq},
    )


def dead_letters(conn: Conn, org: str | None) -> list[dict[str, Any]]:
    return call(
        conn,
        "SELECT d.id, o.name AS org, d.run_id, d.job_name, d.attempts, d.error ->> 'type' AS "
        "error_type, d.error ->> 'message' AS error, d.created_at, d.replay_run_id "
        "FROM runs.dead_letters d JOIN core.orgs o ON o.id = d.org_id "
        "WHERE (%(org)s::text IS NULL OR o.name = %(org)s) ORDER BY d.created_at DESC",
        {"org": org},
    )


def replay(conn: Conn, org: str, letter_id: int) -> dict[str, Any]:
    return call(
        conn,
        "SELECT * FROM runs.replay_dead_letter(%(org)s, %(id)s)",
        {"org": org_id(conn, org), "id": letter_id},
    )[0]
