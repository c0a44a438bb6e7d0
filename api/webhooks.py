"""Webhook activation: POST /v1/webhooks/{org_id}/{job} with an HMAC-SHA256 signature.

Headers: `X-Chainlake-Timestamp` (unix seconds, within 5 minutes), `X-Chainlake-Signature`
(`sha256=` + hex HMAC of `"{timestamp}.{body}"` with the job's secret) and optionally
`X-Chainlake-Delivery` (an id; a repeated delivery queues no second run). Any failure to verify
answers 401 without saying whether the org or job exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from uuid import UUID

import psycopg
from litestar import Request, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.status_codes import HTTP_202_ACCEPTED
from psycopg_pool import ConnectionPool

from api.problems import problems
from chainlake.errors import translate
from chainlake.secrets import decrypt, signature

TOLERANCE_SECONDS = 300


def _refuse(reason: str) -> HTTPException:
    return HTTPException(status_code=401, detail=f"webhook refused: {reason}")


@post(
    "/v1/webhooks/{org_id:uuid}/{job:str}",
    status_code=HTTP_202_ACCEPTED,
    operation_id="receiveWebhook",
    responses=problems(400, 401, 404),
)
async def receive_webhook(
    org_id: FromPath[UUID], job: FromPath[str], request: Request[Any, Any, Any]
) -> dict[str, str]:
    body = await request.body()
    timestamp = request.headers.get("x-chainlake-timestamp", "")
    given = request.headers.get("x-chainlake-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise _refuse("missing or stale X-Chainlake-Timestamp")
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        row = conn.execute("SELECT jobs.webhook_secret(%s, %s)", (org_id, job)).fetchone()
        if row is None or row[0] is None:
            raise _refuse("signature does not verify")
        secret = decrypt(request.app.state.secret_key, bytes(row[0]))
        if not hmac.compare_digest(signature(secret, timestamp, body), given):
            raise _refuse("signature does not verify")
        try:
            payload = json.loads(body or b"null")
        except json.JSONDecodeError as exc:
            raise HTTPException(status_code=400, detail="the body is not JSON") from exc
        delivery = (
            request.headers.get("x-chainlake-delivery")
            or hashlib.sha256(given.encode()).hexdigest()[:32]
        )
        try:
            run = conn.execute(
                "SELECT jobs.receive_webhook(%s, %s, %s, %s)",
                (org_id, job, json.dumps(payload), delivery),
            ).fetchone()
        except psycopg.Error as exc:  # a payload Postgres refuses (\u0000): 400, nothing queued
            raise translate(exc) from exc
        conn.commit()
    assert run is not None
    return {"run_id": str(run[0]), "delivery": delivery}
