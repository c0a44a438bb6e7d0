"""/metrics (Prometheus text of the API's own registry), /health/live, /health/ready and the
request-duration middleware (by route template, method and status; never the raw path).
/metrics needs no token unless CHAINLAKE_METRICS_TOKEN is set (docs/decisions.md)."""

from __future__ import annotations

import re
import time
from typing import Any

from litestar import Request, Response, get
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chainlake.observe.health import readiness
from chainlake.observe.metrics import ApiMetrics
from chainlake.observe.server import token_allows


def metrics_of(request: Request[Any, Any, Any]) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


@get("/metrics", operation_id="metrics", include_in_schema=False, sync_to_thread=True)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The API's metrics (Prometheus text); a bearer token when CHAINLAKE_METRICS_TOKEN is set."""
    if not token_allows(request.headers.get("authorization")):
        return Response(
            b'{"detail": "a bearer token is required (CHAINLAKE_METRICS_TOKEN)"}',
            status_code=401,
            media_type="application/json",
        )
    body = generate_latest(metrics_of(request).registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@get("/health/live", operation_id="healthLive")
async def live() -> dict[str, str]:
    """Whether the API process answers (no token needed)."""
    return {"status": "ok"}


@get("/health/ready", operation_id="healthReady", sync_to_thread=True)
def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Whether Postgres, the queues (pgmq) and the object store answer: 200, else 503 naming
    each part that failed and why (no token needed)."""
    found = readiness(request.app.state.database_url, request.app.state.store)
    return Response(found.body(), status_code=200 if found.ready else 503)


def route_label(scope: Scope) -> str:
    """The route template of a request (/v1/orgs/{org}/runs/{run}), never its raw path."""
    template = str(scope.get("path_template") or "")
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", template) or "unmatched"


def timed(app: ASGIApp) -> ASGIApp:
    """Middleware: each HTTP request's duration, to its last byte, by route and status."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http":
            await app(scope, receive, send)
            return
        began, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            metrics: ApiMetrics = scope["app"].state.metrics
            metrics.request_duration.labels(
                route_label(scope), str(scope.get("method", "")), str(status[0])
            ).observe(time.perf_counter() - began)

    return middleware


HANDLERS = [metrics, live, ready]
