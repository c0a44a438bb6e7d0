"""Alert rules, their firings, and the channels they deliver to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chainlake.client.base import BaseClient, segment


class AlertsClient(BaseClient):
    def list_alert_rules(
        self, *, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The rules of the caller's orgs, with how often each fired, one page."""
        return self._page("/v1/alerts/rules", after=after, limit=limit)

    def save_alert_rule(self, *, org: str, name: str, **spec: Any) -> dict[str, Any]:
        """Create or replace a rule (writers): `dataset`, `condition` and the optional fields
        of the API's RuleSpec (severity, channels, confirmation, window_blocks, group_by,
        dedup_key, throttle_seconds, chain_id, description, enabled)."""
        saved: dict[str, Any] = self._post(
            f"/v1/alerts/rules/{segment(org)}", {"name": name, **spec}
        )
        return saved

    def get_alert_rule(self, *, org: str, name: str, limit: int = 20) -> dict[str, Any]:
        """{rule, firings}: one rule and its `limit` most recent firings."""
        found: dict[str, Any] = self._get(f"/v1/alerts/rules/{segment(org, name)}", limit=limit)
        return found

    def set_alert_rule_enabled(self, *, org: str, name: str, enabled: bool) -> dict[str, Any]:
        path = f"/v1/alerts/rules/{segment(org, name)}/enabled"
        done: dict[str, Any] = self._post(path, {"enabled": enabled})
        return done

    def delete_alert_rule(self, *, org: str, name: str) -> None:
        self._delete(f"/v1/alerts/rules/{segment(org, name)}")

    def list_alert_firings(
        self, *, org: str | None = None, rule: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recent firings, newest first, with their deliveries."""
        found: list[dict[str, Any]] = self._get(
            "/v1/alerts/firings", org=org, rule=rule, limit=limit
        )["items"]
        return found

    def save_alert_channel(
        self,
        *,
        org: str,
        name: str,
        kind: str,
        target: str,
        config: dict[str, Any] | None = None,
        secret: str | None = None,
        key: bytes | None = None,
    ) -> dict[str, Any]:
        """Create or replace a channel (writers); its secret is stored encrypted, never
        returned. `key` is the local face's platform key and is not sent: the API encrypts
        with its own."""
        del key
        body = {
            "name": name,
            "kind": kind,
            "target": target,
            "config": config or {},
            "secret": secret,
        }
        saved: dict[str, Any] = self._post(f"/v1/alerts/channels/{segment(org)}", body)
        return saved

    def list_alert_channels(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/v1/alerts/channels")["items"]
        return found

    def backtest_alert_rule(
        self,
        *,
        org: str,
        name: str,
        first: int,
        last: int,
        chain_id: int = 31337,
        deliver: bool = False,
        store: Any = None,
    ) -> list[dict[str, Any]]:
        """The firings the rule would have made over blocks first..last (kept and delivered
        with `deliver`). `store` is the local face's object store and is not sent."""
        del store
        body = {"first": first, "last": last, "chain_id": chain_id, "deliver": deliver}
        found: list[dict[str, Any]] = self._post(
            f"/v1/alerts/rules/{segment(org, name)}/backtest", body
        )
        return found

    def listen_alerts(
        self, *, org: str | None = None, timeout: int = 600
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs as firings happen: `listening` first, then `fired`, `retracted`,
        `ignored`, until `timeout` or `expired` (GET /v1/alerts/events, server-sent events)."""
        asked: dict[str, str | int] = {"follow": "true", "timeout": timeout}
        if org is not None:
            asked["org"] = org
        yield from self.events("/v1/alerts/events", asked, timeout + 30)

    def alert_events(
        self, *, org: str | None = None, after: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Firings and retractions after `after` (an RFC 3339 time), oldest first: `items` and
        `now` (the `after` of the next call). `limit` is the server's (1000 a page)."""
        del limit
        page: dict[str, Any] = self._get("/v1/alerts/events", org=org, after=after)
        return page
