"""What the API's held requests share (run log follows, run waits, alert listens): a cap on how
many one caller holds at once, and server-sent events."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema

from chainlake.errors import QuotaExceeded

HEARTBEAT_SECONDS = 10.0  # a `: heartbeat` comment at least this often on a quiet stream

_held: dict[str, int] = {}
_lock = threading.Lock()


def hold(who: str, most: int, what: str) -> Callable[[], None]:
    """Take one of the caller's slots of held requests of one kind (429 when they hold `most`);
    returns the release. `who` names the caller and the kind ("wait:<user id>"), `what` the
    kind in the message ("run waits")."""
    with _lock:
        if _held.get(who, 0) >= most:
            raise QuotaExceeded(
                f"you already hold {most} {what} at once",
                "end one of them first (each ends by itself at its timeout)",
                5,
            )
        _held[who] = _held.get(who, 0) + 1

    def release() -> None:
        with _lock:
            _held[who] -= 1
            if not _held[who]:
                del _held[who]

    return release


def event(kind: str, data: Any, seq: int | None = None) -> bytes:
    """One server-sent event: `event: kind`, its JSON `data`, and an `id` when it has one."""
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def with_event_stream(operation: Operation, json_too: bool) -> None:
    """Declare a 200 of `text/event-stream` in the OpenAPI document (beside the JSON one when the
    endpoint answers both)."""
    ok = (operation.responses or {}).get("200")
    if isinstance(ok, OpenAPIResponse):
        content = dict(ok.content or {}) if json_too else {}
        ok.content = {**content, "text/event-stream": OpenAPIMediaType(schema=Schema())}
