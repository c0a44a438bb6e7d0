"""OpenTelemetry spans, off unless the operator sets CHAINLAKE_OTLP_ENDPOINT (an OTLP/HTTP
receiver's base URL, http://host:port; spans go to its /v1/traces), read once by the API and the
runner at start (`setup`). Spans carry the trace id of chainlake.tracecontext (the request's, the
run's), so the API's request span and the runner's attempt spans of one run are one trace.

Export never holds up a request or a run: spans are queued (bounded; past it they are dropped)
and sent by one background thread in batches, each try bounded by EXPORT_TIMEOUT_S. A value that
is no such URL is one line at start and the process runs without tracing; a receiver that cannot
be reached costs the lost spans and a line per failed batch, never a crash. The endpoint is the
operator's setting, not a tenant's URL: it does not go through the guarded outbound client
(docs/decisions.md, "Traces")."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

from chainlake.tracecontext import new_span_id

__all__ = ["SpanKind", "endpoint_problem", "record_attempt", "setup", "start_span"]

ENDPOINT_VARIABLE = "CHAINLAKE_OTLP_ENDPOINT"
EXPORT_TIMEOUT_S = 5.0
MAX_QUEUE = 2048  # spans waiting for export; past it new ones are dropped
log = logging.getLogger("chainlake.tracing")
_state: dict[str, trace.Tracer | None] = {"tracer": None}


def endpoint_problem(value: str) -> str | None:
    """What is wrong with `value` as CHAINLAKE_OTLP_ENDPOINT, or None."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as exc:
        return f"{exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it is not an http:// or https:// URL with a host"
    if port is None:
        return "it names no port"
    if parts.query or parts.fragment or parts.username:
        return "it has a query, fragment or user: give only scheme, host, port (and a path)"
    return None


def setup(service: str, environ: dict[str, str] | None = None) -> bool:
    """Turn spans on for this process (named `service`) when CHAINLAKE_OTLP_ENDPOINT is set and
    valid; a malformed value is one WARNING line naming the fix, and tracing stays off. True
    when on."""
    value = (os.environ if environ is None else environ).get(ENDPOINT_VARIABLE, "").strip()
    if not value:
        return False
    problem = endpoint_problem(value)
    if problem:
        log.warning(
            "%s=%r is not an OTLP/HTTP endpoint (%s): running without tracing; set it to the "
            "receiver's base URL, like http://127.0.0.1:4318, or unset it",
            ENDPOINT_VARIABLE,
            value,
            problem,
        )
        return False
    exporter = OTLPSpanExporter(endpoint=value.rstrip("/") + "/v1/traces", timeout=EXPORT_TIMEOUT_S)
    provider = TracerProvider(resource=Resource.create({"service.name": f"chainlake-{service}"}))
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter,
            max_queue_size=MAX_QUEUE,
            schedule_delay_millis=1000,
            export_timeout_millis=EXPORT_TIMEOUT_S * 1000,
        )
    )
    _state["tracer"] = provider.get_tracer("chainlake")
    log.info("tracing on: spans to %s/v1/traces", value.rstrip("/"))
    return True


def enabled() -> bool:
    return _state["tracer"] is not None


def _parent(trace_id: str, parent_id: str | None) -> Context:
    """A context whose remote parent is span `parent_id` (a fresh id when None) of `trace_id`."""
    remote = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(parent_id or new_span_id(), 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(remote))


def start_span(
    name: str,
    trace_id: str,
    parent_id: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    start_ns: int | None = None,
) -> Span | None:
    """A span of trace `trace_id` under span `parent_id` (the caller's, else a stand-in), or
    None when tracing is off. The caller ends it."""
    tracer = _state["tracer"]
    if tracer is None:
        return None
    return tracer.start_span(
        name, context=_parent(trace_id, parent_id), kind=kind, start_time=start_ns
    )


def record_attempt(
    trace_id: str,
    run_id: str,
    started_ns: int,
    ended_ns: int,
    laps: Iterable[tuple[str, int, int]],
) -> None:
    """The spans of one attempt, after the fact: `attempt` from `started_ns` to `ended_ns`, and a
    child per phase (name, start, end; runner/phases.py). Nothing when tracing is off."""
    tracer = _state["tracer"]
    if tracer is None:
        return
    attempt = tracer.start_span("attempt", context=_parent(trace_id, None), start_time=started_ns)
    attempt.set_attribute("chainlake.run_id", run_id)
    inside = trace.set_span_in_context(attempt)
    for phase, start, end in laps:
        tracer.start_span(phase, context=inside, start_time=start).end(end_time=end)
    attempt.end(end_time=ended_ns)
