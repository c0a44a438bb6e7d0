"""/v1/alerts: rules (create or replace, list, one with its recent firings, enable or disable,
delete), channels (create or replace with an encrypted secret that is never returned; list)
and firings. Every request runs under the caller's identity, so RLS decides (members read,
writers write) and each rule is checked by Postgres when saved (docs/alerts.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import psycopg
from litestar import Response, delete, get, post
from litestar.openapi.spec import Operation
from litestar.params import JSONBody, QueryParameter
from litestar.response import Stream
from msgspec import Meta

from api.fields import (
    NAME_PATTERN,
    NO_NUL,
    Columns,
    Cursor,
    Limit,
    Name,
    NameParam,
    Names,
    OrgParam,
    Settings,
    Text,
    Timestamp,
    clamp,
    rfc3339,
)
from api.notices import NoticeHub
from api.problems import PROBLEMS
from api.session import Page, Req, acting, caller, perform
from api.streams import HEARTBEAT_SECONDS, event, hold, with_event_stream
from chainlake.domain import alerts
from chainlake.domain.pages import next_after
from chainlake.errors import NotFound

Count = Annotated[int, Meta(ge=0, le=2**31 - 1)]


class RuleSpec(msgspec.Struct):
    name: Name
    dataset: Literal["chain.transactions", "chain.logs", "chain.blocks"]
    condition: Annotated[str, Meta(pattern=r"^[^\x00]*\S[^\x00]*$", min_length=1, max_length=2000)]
    severity: Literal["info", "warning", "critical"] = "info"
    channels: Names = []
    confirmation: Literal["provisional", "safe", "finalized"] = "provisional"
    window_blocks: Annotated[int, Meta(ge=1, le=2**31 - 1)] | None = None
    group_by: Columns = []
    dedup_key: Columns = []
    throttle_seconds: Count = 0
    chain_id: Annotated[int, Meta(ge=1, le=2**63 - 1)] | None = None
    description: Text = ""
    enabled: bool = True


class Enabled(msgspec.Struct):
    enabled: bool


class ChannelSpec(msgspec.Struct):
    name: Name
    kind: Literal["webhook", "email", "sms", "slack"]
    target: Annotated[str, Meta(pattern=NO_NUL, min_length=1, max_length=2000)]
    config: Settings = {}
    secret: Annotated[str, Meta(pattern=NO_NUL, min_length=1, max_length=4096)] | None = None


RuleFilter = Annotated[
    str | None,
    QueryParameter(pattern=NAME_PATTERN, min_length=1, max_length=63, description="A rule."),
]
OrgFilter = Annotated[
    str | None,
    QueryParameter(pattern=NAME_PATTERN, min_length=1, max_length=63, description="An org."),
]


@get("/v1/alerts/rules", operation_id="listAlertRules", responses=PROBLEMS, sync_to_thread=True)
def list_rules(request: Req, limit: Limit = 100, after: Cursor = None) -> Page:
    """The alert rules of the caller's orgs, with how often each fired, a page at a time."""
    limit = clamp(limit)
    found = perform(request, alerts.list_alert_rules, after=after, limit=limit)
    return Page(found, next_after(found, limit))


@post(
    "/v1/alerts/rules/{org:str}",
    operation_id="saveAlertRule",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def save_rule(request: Req, org: OrgParam, data: JSONBody[RuleSpec]) -> dict[str, Any]:
    """Create or replace a rule of `org` (writers). The condition is checked when saved: only
    the dataset's columns, pure built-in functions, no other table, one expression."""
    fields = msgspec.structs.asdict(data)
    name = fields.pop("name")
    return perform(request, alerts.save_alert_rule, org=org, name=name, **fields)


@get(
    "/v1/alerts/rules/{org:str}/{name:str}",
    operation_id="getAlertRule",
    description="One rule and its recent firings, each with the state of its deliveries.",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def get_rule(request: Req, org: OrgParam, name: NameParam, limit: Limit = 20) -> dict[str, Any]:
    """One rule and its recent firings, each with the state of its deliveries."""
    return perform(request, alerts.get_alert_rule, org=org, name=name, limit=clamp(limit))


@post(
    "/v1/alerts/rules/{org:str}/{name:str}/enabled",
    operation_id="setAlertRuleEnabled",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def set_enabled(
    request: Req, org: OrgParam, name: NameParam, data: JSONBody[Enabled]
) -> dict[str, Any]:
    """Enable or disable a rule (writers); a disabled rule keeps its firings."""
    return perform(request, alerts.set_alert_rule_enabled, org=org, name=name, enabled=data.enabled)


@delete(
    "/v1/alerts/rules/{org:str}/{name:str}",
    operation_id="deleteAlertRule",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=204,
)
def delete_rule(request: Req, org: OrgParam, name: NameParam) -> None:
    """Delete alert rule `name` of `org` and its firings (writers)."""
    perform(request, alerts.delete_alert_rule, org=org, name=name)


@get("/v1/alerts/firings", operation_id="listAlertFirings", responses=PROBLEMS, sync_to_thread=True)
def list_firings(
    request: Req, org: OrgFilter = None, rule: RuleFilter = None, limit: Limit = 100
) -> Page:
    """Recent firings (newest first) of the caller's orgs, with their deliveries."""
    found = perform(request, alerts.list_alert_firings, org=org, rule=rule, limit=clamp(limit))
    return Page(found, None)


@post(
    "/v1/alerts/channels/{org:str}",
    operation_id="saveAlertChannel",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def save_channel(request: Req, org: OrgParam, data: JSONBody[ChannelSpec]) -> dict[str, Any]:
    """Create or replace a channel (writers). Its secret (the webhook signing key, an SMTP
    password, an SMS auth token) is stored encrypted and never returned. Where it sends must be
    a public address (docs/alerts.md): Postgres checks literal addresses, the names are
    resolved here and each of their addresses checked."""
    key: bytes = request.app.state.secret_key
    fields = msgspec.structs.asdict(data)
    return perform(request, alerts.save_alert_channel, org=org, key=key, **fields)


@get(
    "/v1/alerts/channels", operation_id="listAlertChannels", responses=PROBLEMS, sync_to_thread=True
)
def list_channels(request: Req) -> Page:
    """The channels of the caller's orgs (whether each has a secret, never the secret)."""
    return Page(perform(request, alerts.list_alert_channels), None)


class BacktestSpec(msgspec.Struct):
    first: Annotated[int, Meta(ge=0, le=2**53)]
    last: Annotated[int, Meta(ge=0, le=2**53)]
    chain_id: Annotated[int, Meta(ge=1, le=2**53)] = 31337
    deliver: bool = False


@post(
    "/v1/alerts/rules/{org:str}/{name:str}/backtest",
    operation_id="backtestAlertRule",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def backtest_rule(
    request: Req, org: OrgParam, name: NameParam, data: JSONBody[BacktestSpec]
) -> list[dict[str, Any]]:
    """The firings the rule would have made over blocks `first`..`last` of the chain, hot or
    cold, in one consistent snapshot; with `deliver` (writers), kept and delivered. Nothing
    else is kept."""
    with acting(request, psycopg.IsolationLevel.REPEATABLE_READ) as conn:
        return alerts.backtest_alert_rule(
            conn,
            org=org,
            name=name,
            first=data.first,
            last=data.last,
            chain_id=data.chain_id,
            deliver=data.deliver,
            store=request.app.state.store,
        )


LISTENS_PER_CALLER = 2  # alert streams one caller may hold open at once
MAX_LISTEN_SECONDS = 3600
READY_SECONDS = 10.0  # how long a new stream waits for the hub to listen on its channels
READ_SECONDS = 0.1  # at most one read of firings a stream in this time, however often woken
WINDOW = timedelta(seconds=10)  # a read looks back this far before the last (commit order)
EVENTS_PER_READ = 1000


@dataclass
class EventsOperation(Operation):
    """The listen's 200: a JSON page, or server-sent events when followed."""

    def __post_init__(self) -> None:
        with_event_stream(self, json_too=True)


@get(
    "/v1/alerts/events",
    operation_id="listenAlerts",
    responses=PROBLEMS,
    operation_class=EventsOperation,
)
async def listen_alerts(
    request: Req,
    org: Annotated[str | None, QueryParameter(max_length=200, pattern=NAME_PATTERN)] = None,
    after: Timestamp = None,
    follow: Annotated[bool, QueryParameter()] = False,
    timeout: Annotated[int, QueryParameter(ge=1, le=MAX_LISTEN_SECONDS)] = 600,
) -> Response[Any]:
    """Firings and retractions of the orgs whose firings the caller may read (or of `org`):
    those after `after`, oldest first, as a JSON page (`items` and `now`, the `after` of the
    next call). With `follow=true` or `Accept: text/event-stream`, as they happen, as
    server-sent events: `listening` (the orgs, once the stream cannot miss an event), `fired`
    and `retracted` (the firing, read as the caller), `: heartbeat` comments, and at the end
    `timeout`, `expired` (the token ran out: listen again with a new one) or `revoked` (the
    caller may read none of its orgs any more). A caller holds at most two streams."""
    channels = await asyncio.to_thread(perform, request, alerts.notice_channels, org=org)
    if not channels:
        raise NotFound(f'unknown org "{org}"', "list your orgs with `chainlake whoami`")
    if not (follow or "text/event-stream" in request.headers.get("accept", "")):
        page = await asyncio.to_thread(
            perform,
            request,
            alerts.alert_events,
            org=org,
            after=rfc3339(after, "after"),
            limit=EVENTS_PER_READ,
        )
        return Response(page, media_type="application/json")
    release = hold(f"listen:{caller(request).get('sub', '')}", LISTENS_PER_CALLER, "alert listens")
    return Stream(
        _events(request, org, channels, timeout, release),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


async def _events(
    request: Req,
    org: str | None,
    channels: list[dict[str, Any]],
    timeout: int,
    release: Callable[[], None],
) -> AsyncIterator[bytes]:
    """Each wake of the hub (or each heartbeat), read the orgs' firings and retractions since
    the last read, through RLS as the caller; at most one read per READ_SECONDS whatever wakes
    it. A read looks back WINDOW before its last one (a firing's transaction may commit after
    a later one's) and shows each event once. Every heartbeat the orgs are read again: those the
    caller may read no more are dropped, and with none left the stream ends (`revoked`)."""
    hub: NoticeHub = request.app.state.notices
    subscription = hub.subscribe([c["channel"] for c in channels])
    ends = time.monotonic() + timeout
    expires: float = getattr(request.state, "token_expires", float("inf"))
    shown: dict[tuple[str, str], datetime] = {}
    try:
        await asyncio.wait_for(subscription.ready.wait(), READY_SECONDS)
        cursor = start = _time((await _read(request, org, None))["now"])
        yield event("listening", {"orgs": [c["org"] for c in channels]})
        beat = time.monotonic() + HEARTBEAT_SECONDS
        while True:
            left = min(ends - time.monotonic(), expires - time.time())
            if left <= 0:
                yield event("timeout" if time.monotonic() >= ends else "expired", {})
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(subscription.wake.wait(), min(left, beat - time.monotonic()))
            subscription.wake.clear()
            if time.monotonic() >= beat:
                yield b": heartbeat\n\n"
                beat = time.monotonic() + HEARTBEAT_SECONDS
                mine = await asyncio.to_thread(perform, request, alerts.notice_channels, org=org)
                if not mine:
                    yield event("revoked", {"hint": "you may read the firings of none of its orgs"})
                    return
                hub.narrow(subscription, [c["channel"] for c in mine])
            page = await _read(request, org, max(start, cursor - WINDOW))
            for item in page["items"]:
                at, key = _time(item.pop("at")), (item["firing"], item["event"])
                if key not in shown:  # read again inside the look-back window: shown once
                    shown[key] = at
                    yield event(item["event"], item)
            cursor = _time(page["now"])
            shown = {k: at for k, at in shown.items() if at > cursor - WINDOW}
            await asyncio.sleep(READ_SECONDS)
    finally:
        hub.unsubscribe(subscription)
        release()


async def _read(request: Req, org: str | None, after: datetime | None) -> dict[str, Any]:
    asked = None if after is None else after.isoformat()
    found: dict[str, Any] = await asyncio.to_thread(
        perform, request, alerts.alert_events, org=org, after=asked, limit=EVENTS_PER_READ
    )
    return found


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


HANDLERS = [
    listen_alerts,
    backtest_rule,
    list_rules,
    save_rule,
    get_rule,
    set_enabled,
    delete_rule,
    list_firings,
    save_channel,
    list_channels,
]
