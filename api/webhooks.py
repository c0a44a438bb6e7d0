"""Webhook activation: POST /v1/webhooks/{org_id}/{job} with an HMAC-SHA256 signature.

Headers: `X-Chainlake-Timestamp` (unix seconds, within 5 minutes), `X-Chainlake-Delivery` (an id
of up to 128 letters, digits, '.', '_', ':' or '-'; optional: without it the signature's own
hex is the id) and `X-Chainlake-Signature` (`sha256=` + hex HMAC of
`"{timestamp}.{delivery}.{body}"` with the job's secret, `delivery` empty when not sent). The
signature covers the delivery id, so a captured request cannot be replayed under a new one; a
delivery id already received answers 409 and queues nothing (jobs.receive_webhook). Any failure
to verify answers 401 without saying whether the org or job exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any
from uuid import UUID

from litestar import Request, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.status_codes import HTTP_202_ACCEPTED
from psycopg_pool import ConnectionPool

from api.problems import problems
from chainlake.domain import jobs
from chainlake.errors import InvalidInput
from chainlake.secrets import decrypt, signature

TOLERANCE_SECONDS = 300
DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _refuse(reason: str) -> HTTPException:
    return HTTPException(status_code=401, detail=f"webhook refused: {reason}")


def _delivery_id(header: str | None) -> str:
    if header is None or DELIVERY_ID.fullmatch(header):
        return header or ""
    raise InvalidInput(
        "X-Chainlake-Delivery may hold only 1 to 128 letters, digits, '.', '_', ':' or '-'"
    )


@post(
    "/v1/webhooks/{org_id:uuid}/{job:str}",
    status_code=HTTP_202_ACCEPTED,
    operation_id="receiveWebhook",
    responses=problems(400, 401, 404, 409),
)
async def receive_webhook(
    org_id: FromPath[UUID], job: FromPath[str], request: Request[Any, Any, Any]
) -> dict[str, str]:
    """Queue a run of a webhook job: the body is its payload, signed with the job's secret
    (X-Chainlake-Timestamp, X-Chainlake-Delivery, X-Chainlake-Signature; docs/job-contract.md).
    No token: the signature is the credential; a replayed delivery is answered 409."""
    body = await request.body()

    timestamp = request.headers.get("x-chainlake-timestamp", "")
    given = request.headers.get("x-chainlake-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise _refuse("missing or stale X-Chainlake-Timestamp")
    delivery = _delivery_id(request.headers.get("x-chainlake-delivery"))
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        sealed = jobs.webhook_secret_sealed(conn, org_id=str(org_id), job=job)
        if sealed is None:
            raise _refuse("signature does not verify")
        secret = decrypt(request.app.state.secret_key, sealed)
        if not hmac.compare_digest(signature(secret, timestamp, delivery, body), given):
            raise _refuse("signature does not verify")
        try:
            payload = json.loads(body or b"null")
        except json.JSONDecodeError as exc:
            raise HTTPException(status_code=400, detail="the body is not JSON") from exc
        delivery = delivery or hashlib.sha256(given.encode()).hexdigest()[:32]
        # a replay (409), or a payload Postgres refuses (400), comes back as a problem
        run_id = jobs.receive_webhook(
            conn, org_id=str(org_id), job=job, payload=payload, delivery=delivery
        )
        conn.commit()
    return {"run_id": run_id, "delivery": delivery}
