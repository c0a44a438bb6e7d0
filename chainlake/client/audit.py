"""The audit events of the orgs the caller administers."""

from __future__ import annotations

from typing import Any

from chainlake.client.base import BaseClient


class AuditClient(BaseClient):
    def list_audit_events(
        self,
        *,
        org: str | None = None,
        action: str | None = None,
        after: int | str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Events newest first, one page (`after`: the id of the last event of the previous
        page); `org` and `action` (e.g. `auth.login`, `data.query`) filter."""
        return self._page("/v1/audit/events", org=org, action=action, after=after, limit=limit)
