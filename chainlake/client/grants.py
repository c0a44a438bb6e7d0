"""Sharing one dataset or saved query with another org, read-only."""

from __future__ import annotations

from typing import Any, Literal

from chainlake.client.base import BaseClient, segment

Kind = Literal["dataset", "saved_query"]


class GrantsClient(BaseClient):
    def list_grants(self, *, after: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Grants made by the caller's orgs or to them, one page."""
        return self._page("/v1/grants", after=after, limit=limit)

    def grant_read(self, *, kind: Kind, org: str, name: str, grantee: str) -> dict[str, Any]:
        """Share `org`'s dataset or saved query `name` with the org `grantee`."""
        body = {"kind": kind, "org": org, "name": name, "grantee": grantee}
        granted: dict[str, Any] = self._post("/v1/grants", body)
        return granted

    def revoke_read(self, *, kind: Kind, org: str, name: str, grantee: str) -> None:
        """Stop sharing it; the grantee's next request no longer sees it."""
        self._delete(f"/v1/grants/{segment(kind, org, name, grantee)}")
