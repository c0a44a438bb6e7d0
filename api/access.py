"""The API's access log: one line per HTTP request, through `logging` (chainlake.logs), at INFO:
method, route (the path template when a route matched, else the path), status, duration in
milliseconds, and the caller (user and orgs) once its token was verified. Never a header, a
token or a query string (a token may travel in one). Health probes and metrics scrapes
(`PROBES`) are logged at DEBUG, so that a probe every few seconds does not bury the requests.

An ASGI middleware around the whole application, so requests no route matched (404) and requests
refused before a handler ran are logged too. Each request runs in a log scope (`log_context`):
whatever the API logs while serving it carries its method. A request answered 500 also leaves
its traceback, as the `exc` of one line (`server_errors`, Litestar's exception logging).

Each request is also in a W3C trace (chainlake/tracecontext.py): the one its `traceparent`
header names, else a fresh one. Its `trace_id` is on every line logged while serving it, the
access line included, and on the runs it queues (migrations 0028); with tracing on
(chainlake/tracing.py) the request is a span of that trace."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from litestar.exceptions import HTTPException
from litestar.logging.config import LoggingConfig

from api.problems import STATUS
from chainlake import tracing
from chainlake.logs import log_context
from chainlake.tracecontext import from_traceparent, tracing_scope

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Litestar, typed with its own scope types

log = logging.getLogger("chainlake.api.access")
errors = logging.getLogger("chainlake.api")
PROBES = ("/health", "/metrics")  # their access lines at DEBUG (CHAINLAKE_LOG_LEVEL=DEBUG)


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}  # what an exception that escaped everything answers

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        parent = from_traceparent(header_of(scope, b"traceparent"))
        span = tracing.start_span(
            scope["method"], parent.trace_id, parent.parent_id, tracing.SpanKind.SERVER
        )
        with log_context(method=scope["method"], trace_id=parent.trace_id):
            try:
                with tracing_scope(parent.trace_id):
                    await self.app(scope, receive, sending)
            finally:
                if span is not None:
                    span.update_name(f"{scope['method']} {route_of(scope)}")
                    span.set_attribute("http.response.status_code", status["code"])
                    span.end()
                log.log(
                    level_of(scope),
                    "%s %s %s",
                    scope["method"],
                    route_of(scope),
                    status["code"],
                    extra={
                        "route": route_of(scope),
                        "status": status["code"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        **caller_of(scope),
                    },
                )


def header_of(scope: Scope, name: bytes) -> str | None:
    """The first value of request header `name` (lowercase), if sent."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def level_of(scope: Scope) -> int:
    """INFO, but DEBUG for what probes and scrapers ask every few seconds."""
    path = str(scope.get("path", ""))
    return logging.DEBUG if path.startswith(PROBES) else logging.INFO


def route_of(scope: Scope) -> str:
    """The matched route's template without its parameters' types (/v1/runs/{run_id}), else
    the path (never the query string)."""
    template = scope.get("path_template")
    if not template:
        return str(scope.get("path", ""))
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", str(template))  # {org:str} is {org}


def caller_of(scope: Scope) -> dict[str, Any]:
    """The verified caller (api/session.py keeps it in the request's state): their user id, the
    orgs they belong to, and the org the route names; nothing before a token verified."""
    state: dict[str, Any] = scope.get("state") or {}
    claims = state.get("claims") or {}
    if not claims:
        return {}
    org = (scope.get("path_params") or {}).get("org")  # the org a /v1/.../{org}/... route names
    found = {"user": claims.get("sub"), "org": org, "orgs": state.get("orgs")}
    return {k: str(v) for k, v in found.items() if v}


def server_errors() -> LoggingConfig:
    """Litestar's logging setup: the traceback of every request answered 500 in one line of
    ours (its `exc`), none for the 4xx answers (problems, api/problems.py); Litestar leaves the
    root logger alone (chainlake.logs.configure sets it up)."""
    return LoggingConfig(
        configure_root_logger=False,
        log_exceptions="always",
        exception_logging_handler=_log_server_error,
    )


def _log_server_error(_: Any, scope: Any, __: list[str]) -> None:
    exc = sys.exc_info()[1]
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return
    if isinstance(exc, tuple(kind for kind, *_ in STATUS)):
        return
    errors.error("%s %s failed", scope.get("method"), route_of(scope), exc_info=exc)
