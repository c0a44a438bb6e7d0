"""Jobs: apply a definition, list, show one with its versions, request a run with params, set a
webhook secret. Thin calls of sql/50_runs.sql, sql/51_runs_domain.sql and sql/60_webhooks.sql;
the definition is checked against the contract's schema first (chainlake.jobdefs.check)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import psycopg

from chainlake.db import call
from chainlake.domain import one, rows
from chainlake.domain.runs import org_id
from chainlake.errors import InvalidInput
from chainlake.jobdefs import check, next_fire
from chainlake.secrets import encrypt

Conn = psycopg.Connection[Any]


def apply_definition(conn: Conn, *, org_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Apply a checked definition to the org with id `org_id` (the platform's own path: the
    demo and the system org's jobs); people use apply_job, by org name."""
    check(spec)
    return one(
        conn,
        "SELECT * FROM jobs.apply_definition(p_org_id => %(org_id)s, p_spec => %(spec)s, p_next_fire_at => %(next)s)",  # noqa: E501
        {"org_id": org_id, "spec": json.dumps(spec), "next": next_fire(spec)},
    )


def apply_job(conn: Conn, *, org: str, definition: dict[str, Any]) -> dict[str, Any]:
    """Apply a job definition (parsed YAML or JSON) to an org: a new version, or the same
    version again unchanged. Returns the org, name, version and kind applied."""
    if not isinstance(definition, dict):
        raise InvalidInput("definition: a job definition is an object")
    applied = apply_definition(conn, org_id=org_id(conn, org), spec=definition)
    return {
        "org": org,
        "name": applied["name"],
        "version": applied["version"],
        "kind": applied["kind"],
    }


def list_jobs(conn: Conn, *, org: str | None = None) -> list[dict[str, Any]]:
    """Each job's current version, its schedule's next tick and why the scheduler set it aside."""
    return rows(conn, "SELECT * FROM jobs.list(p_org => %(org)s)", {"org": org})


def show_job(conn: Conn, *, org: str, name: str) -> dict[str, Any]:
    """One job: its current definition, every version applied, its schedule."""
    return dict(
        one(
            conn,
            "SELECT jobs.show(p_org => %(org)s, p_name => %(name)s) AS job",
            {"org": org, "name": name},
        )["job"]
    )


def run_job(
    conn: Conn,
    *,
    org: str,
    name: str,
    params: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Queue a run of the job's current version with `params` (writers of the org); the same
    idempotency key never queues a second run."""
    if params is not None and not isinstance(params, dict):
        raise InvalidInput("params: an object of parameter names and values")
    return one(
        conn,
        "SELECT id, job_name, job_version, status, created_at FROM runs.request(p_org_id => %(org_id)s, p_job => %(job)s, p_params => %(params)s, p_idempotency_key => %(key)s)",  # noqa: E501
        {
            "org_id": org_id(conn, org),
            "job": name,
            "params": json.dumps(params or {}),
            "key": idempotency_key,
        },
    )


def set_webhook_secret(conn: Conn, *, org: str, name: str, key: bytes) -> dict[str, Any]:
    """A new HMAC secret for a webhook job (org admins), stored encrypted with `key` (the
    platform's); returned once, with the path deliveries are posted to."""
    secret = secrets.token_urlsafe(32)
    org_uuid = org_id(conn, org)
    rows(
        conn,
        "SELECT jobs.set_webhook_secret(p_org_id => %(org_id)s, p_job => %(job)s, p_secret_enc => %(enc)s)",  # noqa: E501
        {"org_id": org_uuid, "job": name, "enc": encrypt(key, secret)},
    )
    return {
        "org": org,
        "name": name,
        "secret": secret,
        "path": f"/v1/webhooks/{org_uuid}/{name}",
    }


def webhook_secret_sealed(conn: Conn, *, org_id: str, job: str) -> bytes | None:
    """A webhook job's HMAC secret as stored (encrypted), or None: the API's own check of a
    webhook's signature, before any identity is known."""
    found = call(
        conn, "SELECT jobs.webhook_secret(%(org)s, %(job)s) AS s", {"org": org_id, "job": job}
    )
    sealed = found[0]["s"] if found else None
    return bytes(sealed) if sealed is not None else None


def receive_webhook(conn: Conn, *, org_id: str, job: str, payload: Any, delivery: str) -> str:
    """Queue a run of a webhook job for a verified delivery; its run id (a replayed delivery is
    refused: 409)."""
    found = call(
        conn,
        "SELECT jobs.receive_webhook(%(org)s, %(job)s, %(payload)s, %(delivery)s) AS run_id",
        {"org": org_id, "job": job, "payload": json.dumps(payload), "delivery": delivery},
    )
    return str(found[0]["run_id"])
