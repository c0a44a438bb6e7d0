"""Following an org's alert channel (`chainlake alert listen`). LISTEN/NOTIFY has no access
control: anyone may LISTEN on, and `pg_notify`, any channel (SECURITY.md item 15). So a payload
is only a hint: it is taken only in the exact shape the platform sends
(`{"firing": "<uuid>", "event": "fired" | "retracted" | "cleared"}`), the firing it names is
read through RLS by its id, a retraction or a clearing is shown only when the firing is
retracted or cleared (a forged one of a live firing is not), and each event once. Anything
else is ignored with a note that never repeats the payload (it may hold terminal escapes)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

EVENTS = ("fired", "retracted", "cleared")
FIRING = (
    "SELECT o.name AS org, r.name AS rule, r.severity, f.chain_id, f.to_block, f.match_key, "
    "f.vals, f.retracted_at IS NOT NULL AS retracted, f.cleared_at IS NOT NULL AS cleared "
    "FROM alerts.firings f "
    "JOIN core.orgs o ON o.id = f.org_id "
    "LEFT JOIN alerts.rules r ON r.org_id = f.org_id AND r.id = f.rule_id WHERE f.id = %s"
)


@dataclass(frozen=True)
class Notice:
    firing: str
    event: str


def parse_notice(payload: str) -> Notice | None:
    """The platform's notice in `payload`, or None for anything else."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or set(data) != {"firing", "event"}:
        return None
    firing, event = data["firing"], data["event"]
    if not isinstance(firing, str) or event not in EVENTS:
        return None
    try:
        return Notice(str(uuid.UUID(firing)), event)
    except ValueError:
        return None


def listen(conn: psycopg.Connection[Any], channels: Iterable[str]) -> None:
    for channel in channels:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))


def follow(
    conn: psycopg.Connection[Any],
    show: Callable[[dict[str, Any]], None],
    note: Callable[[str], None],
    *,
    count: int | None = None,
    deadline: float | None = None,
) -> int:
    """Show each event on the channels `conn` listens on until `count` events were shown or
    `deadline` (time.monotonic) passed; returns how many were shown."""
    shown: set[Notice] = set()
    while count is None or len(shown) < count:
        wait = 1.0 if deadline is None else deadline - time.monotonic()
        if wait <= 0:
            break
        # collect first: the generator holds the connection's lock until it ends
        for message in list(conn.notifies(timeout=min(wait, 1.0), stop_after=1)):
            event = firing_event(conn, message.payload, shown)
            if isinstance(event, str):
                note(f"ignored a notification on {message.channel}: {event}")
            else:
                show(event)
    return len(shown)


def firing_event(
    conn: psycopg.Connection[Any], payload: str, shown: set[Notice]
) -> dict[str, Any] | str:
    """The event to show for `payload`, or why it is ignored."""
    notice = parse_notice(payload)
    if notice is None:
        return f"not one the platform sends ({len(payload.encode())} bytes)"
    if notice in shown:
        return f"{notice.event} of firing {notice.firing} again"
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(FIRING, (notice.firing,)).fetchone()
    if row is None:
        return f"no firing {notice.firing} that you may read"
    for event in ("retracted", "cleared"):
        if notice.event == event and not row[event]:
            return f"firing {notice.firing} is not {event}"
        del row[event]
    shown.add(notice)
    return {"event": notice.event, "firing": notice.firing, **row}
