"""Usage and cost per org and day."""

from __future__ import annotations

from typing import Any

from chainlake.client.base import BaseClient


class UsageClient(BaseClient):
    def usage(self, *, org: str | None = None, days: int = 7) -> list[dict[str, Any]]:
        """One row per org and UTC day over the last `days` days: CPU seconds, peak memory,
        bytes written, queries, query seconds and bytes."""
        items: list[dict[str, Any]] = self._get("/v1/usage", org=org, days=days)["items"]
        return items
