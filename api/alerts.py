"""/v1/alerts: rules (create or replace, list, one with its recent firings, enable or disable,
delete), channels (create or replace with an encrypted secret that is never returned; list)
and firings. Every request runs under the caller's identity, so RLS decides (members read,
writers write) and each rule is checked by Postgres when saved (docs/alerts.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from litestar import delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.problems import PROBLEMS
from api.session import Page, Req, as_caller
from chainlake.alerts import ONE_RULE
from chainlake.egress import check_channel_names
from chainlake.errors import NotFound
from chainlake.secrets import encrypt


@dataclass
class RuleSpec:
    name: str
    dataset: Literal["chain.transactions", "chain.logs", "chain.blocks"]
    condition: str
    severity: Literal["info", "warning", "critical"] = "info"
    channels: list[str] = field(default_factory=list)
    confirmation: Literal["provisional", "safe", "finalized"] = "provisional"
    window_blocks: int | None = None
    group_by: list[str] = field(default_factory=list)
    dedup_key: list[str] = field(default_factory=list)
    throttle_seconds: int = 0
    chain_id: int | None = None
    description: str = ""
    enabled: bool = True


@dataclass
class Enabled:
    enabled: bool


@dataclass
class ChannelSpec:
    name: str
    kind: Literal["webhook", "email", "sms", "slack"]
    target: str
    config: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        out[k] = v.isoformat() if hasattr(v, "isoformat") else str(v) if k == "id" else v
    return out


@get("/v1/alerts/rules", operation_id="listAlertRules", responses=PROBLEMS, sync_to_thread=True)
def list_rules(
    request: Req, limit: FromQuery[int] = 100, after: FromQuery[str | None] = None
) -> Page:
    """The alert rules of the caller's orgs, with how often each fired, a page at a time."""
    limit = max(1, min(limit, 1000))
    rows = as_caller(request, "SELECT * FROM alerts.list_rules(%s, %s)", (after, limit))
    following = rows[-1]["cursor"] if len(rows) == limit else None
    return Page([_plain({k: v for k, v in r.items() if k != "cursor"}) for r in rows], following)


@post(
    "/v1/alerts/rules/{org:str}",
    operation_id="saveAlertRule",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def save_rule(request: Req, org: FromPath[str], data: JSONBody[RuleSpec]) -> dict[str, Any]:
    """Create or replace a rule of `org` (writers). The condition is checked when saved: only
    the dataset's columns, pure built-in functions, no other table, one expression."""
    name = data.name
    spec = {k: v for k, v in data.__dict__.items() if v is not None and k != "name"}
    rows = as_caller(
        request,
        "SELECT id, name, dataset, condition, enabled FROM alerts.save_rule(%s, %s, %s)",
        (org, name, json.dumps(spec)),
    )
    return _plain(rows[0])


@get(
    "/v1/alerts/rules/{org:str}/{name:str}",
    operation_id="getAlertRule",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def get_rule(
    request: Req, org: FromPath[str], name: FromPath[str], limit: FromQuery[int] = 20
) -> dict[str, Any]:
    """One rule and its recent firings, each with the state of its deliveries."""
    rules = as_caller(request, ONE_RULE, (org, name))
    if not rules:
        raise NotFound(f'no alert rule "{name}" in org "{org}" that you may see')
    limit = max(1, min(limit, 1000))
    firings = as_caller(
        request, "SELECT * FROM alerts.recent_firings(%s, %s, %s)", (org, name, limit)
    )
    rule = _plain({k: v for k, v in rules[0].items() if k != "cursor"})
    return {"rule": rule, "firings": [_plain(f) for f in firings]}


@post(
    "/v1/alerts/rules/{org:str}/{name:str}/enabled",
    operation_id="setAlertRuleEnabled",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def set_enabled(
    request: Req, org: FromPath[str], name: FromPath[str], data: JSONBody[Enabled]
) -> dict[str, Any]:
    as_caller(request, "SELECT alerts.set_enabled(%s, %s, %s)", (org, name, data.enabled))
    return {"org": org, "name": name, "enabled": data.enabled}


@delete(
    "/v1/alerts/rules/{org:str}/{name:str}",
    operation_id="deleteAlertRule",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=204,
)
def delete_rule(request: Req, org: FromPath[str], name: FromPath[str]) -> None:
    as_caller(request, "SELECT alerts.delete_rule(%s, %s)", (org, name))


@get("/v1/alerts/firings", operation_id="listAlertFirings", responses=PROBLEMS, sync_to_thread=True)
def list_firings(
    request: Req,
    org: FromQuery[str | None] = None,
    rule: FromQuery[str | None] = None,
    limit: FromQuery[int] = 100,
) -> Page:
    """Recent firings (newest first) of the caller's orgs, with their deliveries."""
    limit = max(1, min(limit, 1000))
    rows = as_caller(request, "SELECT * FROM alerts.recent_firings(%s, %s, %s)", (org, rule, limit))
    return Page([_plain(r) for r in rows], None)


@post(
    "/v1/alerts/channels/{org:str}",
    operation_id="saveAlertChannel",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def save_channel(request: Req, org: FromPath[str], data: JSONBody[ChannelSpec]) -> dict[str, Any]:
    """Create or replace a channel (writers). Its secret (the webhook signing key, an SMTP
    password, an SMS auth token) is stored encrypted and never returned. Where it sends must be
    a public address (docs/alerts.md): Postgres checks literal addresses, the names are
    resolved here and each of their addresses checked."""
    key: bytes = request.app.state.secret_key
    enc = encrypt(key, data.secret) if data.secret else None
    check_channel_names(
        lambda sql, params: as_caller(request, sql, params),
        data.name,
        data.kind,
        data.target,
        data.config,
    )
    as_caller(
        request,
        "SELECT alerts.save_channel(%s, %s, %s, %s, %s, %s)",
        (org, data.name, data.kind, data.target, json.dumps(data.config), enc),
    )
    return {"org": org, "name": data.name, "kind": data.kind, "target": data.target}


@get(
    "/v1/alerts/channels", operation_id="listAlertChannels", responses=PROBLEMS, sync_to_thread=True
)
def list_channels(request: Req) -> Page:
    """The channels of the caller's orgs (whether each has a secret, never the secret)."""
    return Page(as_caller(request, "SELECT * FROM alerts.list_channels()"), None)


HANDLERS = [
    list_rules,
    save_rule,
    get_rule,
    set_enabled,
    delete_rule,
    list_firings,
    save_channel,
    list_channels,
]
