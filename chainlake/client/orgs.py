"""Who the client is: the token's user and memberships."""

from __future__ import annotations

from typing import Any

from chainlake.client.base import BaseClient


class OrgsClient(BaseClient):
    def whoami(self) -> dict[str, Any]:
        """The caller: a membership per org (user id, e-mail, org, role)."""
        found: dict[str, Any] = self._get("/v1/whoami")
        return found
