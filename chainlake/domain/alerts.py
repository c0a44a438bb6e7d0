"""Alert rules (create or replace, list, one with its recent firings, enable or disable,
delete), channels (create or replace with an encrypted secret that is never returned; list) and
firings. RLS decides (members read, writers write); each rule is checked by Postgres when saved
(sql/85_alerts.sql, docs/alerts.md)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from chainlake.alerts.backtest import backtest
from chainlake.domain import one, rows, to_json
from chainlake.egress import check_channel_names
from chainlake.errors import InvalidInput
from chainlake.secrets import encrypt
from chainlake.storage import ObjectStore

Conn = psycopg.Connection[Any]

RULES = "SELECT * FROM alerts.list_rules(p_after => %(after)s, p_limit => %(limit)s)"
ONE_RULE = RULES + " WHERE org = %(org)s AND name = %(name)s"  # as the caller sees it
FIRINGS = (
    "SELECT * FROM alerts.recent_firings("
    "p_org => %(org)s, p_rule => %(rule)s, p_limit => %(limit)s)"
)


def list_alert_rules(
    conn: Conn, *, after: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The rules of the caller's orgs, with how often each fired, a page at a time."""
    return rows(conn, RULES, {"after": after, "limit": limit})


def save_alert_rule(conn: Conn, /, *, org: str, name: str, **spec: Any) -> dict[str, Any]:
    """Create or replace rule `name` of `org` (writers) from its spec: dataset, condition and
    the optional severity, channels, confirmation, window_blocks, group_by, dedup_key,
    throttle_seconds, chain_id, description, enabled. The condition is checked when saved."""
    sql = (
        "SELECT id, name, dataset, condition, enabled FROM alerts.save_rule("
        "p_org => %(org)s, p_name => %(name)s, p_spec => %(spec)s)"
    )
    given = {k: v for k, v in spec.items() if v is not None}
    return one(conn, sql, {"org": org, "name": name, "spec": Jsonb(given)})


def get_alert_rule(conn: Conn, *, org: str, name: str, limit: int = 20) -> dict[str, Any]:
    """One rule and its recent firings (at most `limit`), each with its deliveries' state."""
    where = {"after": None, "limit": 1000, "org": org, "name": name}
    missing = f'no alert rule "{name}" in org "{org}" that you may see'
    rule = one(conn, ONE_RULE, where, missing)
    return {"rule": rule, "firings": _firings(conn, org, name, limit)}


def _firings(conn: Conn, org: str | None, rule: str | None, limit: int) -> list[dict[str, Any]]:
    return rows(conn, FIRINGS, {"org": org, "rule": rule, "limit": limit})


def set_alert_rule_enabled(conn: Conn, *, org: str, name: str, enabled: bool) -> dict[str, Any]:
    sql = "SELECT alerts.set_enabled(p_org => %(org)s, p_name => %(name)s, p_enabled => %(on)s)"
    rows(conn, sql, {"org": org, "name": name, "on": enabled})
    return {"org": org, "name": name, "enabled": enabled}


def delete_alert_rule(conn: Conn, *, org: str, name: str) -> None:
    sql = "SELECT alerts.delete_rule(p_org => %(org)s, p_name => %(name)s)"
    rows(conn, sql, {"org": org, "name": name})


def list_alert_firings(
    conn: Conn, *, org: str | None = None, rule: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Recent firings (newest first) of the caller's orgs, with their deliveries."""
    return _firings(conn, org, rule, limit)


def save_alert_channel(
    conn: Conn,
    *,
    org: str,
    name: str,
    kind: str,
    target: str,
    config: dict[str, Any] | None = None,
    secret: str | None = None,
    key: bytes,
) -> dict[str, Any]:
    """Create or replace a channel (writers). Its secret is encrypted with the platform `key`
    (the face's: the API's or the local stack's) and never returned. Where it sends must be a
    public address: Postgres checks literal addresses; names are resolved here and each of
    their addresses checked (chainlake.egress.check_channel_names)."""
    settings = config or {}
    check_channel_names(conn, name, kind, target, settings)
    sql = (
        "SELECT alerts.save_channel(p_org => %(org)s, p_name => %(name)s, p_kind => %(kind)s,"
        " p_target => %(target)s, p_config => %(config)s, p_secret_enc => %(enc)s)"
    )
    enc = encrypt(key, secret) if secret else None
    values = {"org": org, "name": name, "kind": kind, "target": target}
    rows(conn, sql, {**values, "config": Jsonb(settings), "enc": enc})
    return values


def list_alert_channels(conn: Conn) -> list[dict[str, Any]]:
    """The channels of the caller's orgs (whether each has a secret, never the secret)."""
    return rows(conn, "SELECT * FROM alerts.list_channels()")


def notice_channels(conn: Conn, *, org: str | None = None) -> list[dict[str, Any]]:
    """The Postgres notification channel of each of the caller's orgs (or of `org`), on which
    firings and retractions are announced (`chainlake alert listen`)."""
    return rows(conn, "SELECT * FROM alerts.notice_channels(p_org => %(org)s)", {"org": org})


def alert_events(
    conn: Conn, *, org: str | None = None, after: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """Firings and retractions of the orgs whose firings the caller may read (or of `org`) that
    happened after `after` (an ISO time; None: none, only the database's `now`), oldest first:
    `items` and `now`, the time to ask after next (a listen stream's read)."""
    now = one(conn, "SELECT clock_timestamp() AS now")["now"]
    if after is None:
        return {"items": [], "now": now}
    sql = "SELECT * FROM alerts.events_after(p_org => %(org)s, p_after => %(after)s, p_limit => %(limit)s)"  # noqa: E501
    return {"items": rows(conn, sql, {"org": org, "after": after, "limit": limit}), "now": now}


def backtest_alert_rule(
    conn: Conn,
    *,
    org: str,
    name: str,
    first: int,
    last: int,
    chain_id: int = 31337,
    deliver: bool = False,
    store: ObjectStore | None = None,
) -> list[dict[str, Any]]:
    """The firings rule `name` of `org` would have made over blocks first..last of the chain,
    hot or cold (`store` holds the cold chunks); with `deliver`, kept as live firings and
    delivered (writers). Runs in one REPEATABLE READ transaction: the connection's own, or one
    it opens."""
    if store is None:
        raise InvalidInput("a backtest reads cold chain data: it needs the object store")
    return [to_json(r) for r in backtest(conn, store, org, name, chain_id, first, last, deliver)]
