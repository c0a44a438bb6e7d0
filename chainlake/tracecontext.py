"""W3C trace context (https://www.w3.org/TR/trace-context/): the trace id a request, and the run
it starts, carry. `from_traceparent` reads an incoming `traceparent` header (a malformed one is
ignored, as the standard says: a fresh trace starts); `new_trace_id` makes one; `current` is the
trace id of the request being served (a context variable, so threads started with a copy of the
context see it: the API's handlers run in worker threads)."""

from __future__ import annotations

import contextvars
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "chainlake_trace_id", default=None
)


@dataclass(frozen=True)
class TraceParent:
    trace_id: str  # 32 lowercase hex digits, not all zero
    parent_id: str | None  # 16 hex digits: the caller's span, when a traceparent came


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def from_traceparent(header: str | None) -> TraceParent:
    """The trace an incoming `traceparent` names, else a fresh one (no header, or one that is
    not version-00-shaped, or an all-zero id)."""
    found = TRACEPARENT.match((header or "").strip().lower())
    if found and found[1] != "ff" and set(found[2]) != {"0"} and set(found[3]) != {"0"}:
        return TraceParent(found[2], found[3])
    return TraceParent(new_trace_id(), None)


def traceparent(trace_id: str, span_id: str | None = None) -> str:
    """The `traceparent` of a sampled span `span_id` (a fresh id if none) of trace `trace_id`."""
    return f"00-{trace_id}-{span_id or new_span_id()}-01"


def current() -> str | None:
    """The trace id of what is being served here, if any."""
    return _current.get()


@contextmanager
def tracing_scope(trace_id: str) -> Iterator[str]:
    """A scope in which `current()` is `trace_id`."""
    if not TRACE_ID.match(trace_id):
        raise ValueError(f"not a trace id (32 lowercase hex digits): {trace_id!r}")
    token = _current.set(trace_id)
    try:
        yield trace_id
    finally:
        _current.reset(token)
