"""Job secrets: set (the server encrypts the value with its platform key), list (names only),
delete."""

from __future__ import annotations

from typing import Any

from chainlake.client.base import BaseClient, segment


class SecretsClient(BaseClient):
    def set_secret(self, *, org: str, name: str, value: str, key: bytes | None = None) -> Any:
        """Set (or replace) secret `name` of `org` (writers). `key` is the local face's platform
        key and is not sent: the API encrypts with its own."""
        del key
        return self._post(f"/v1/secrets/{segment(org, name)}", {"value": value})

    def list_secrets(self) -> list[dict[str, Any]]:
        """The secrets of the caller's orgs: names and when each was set, never values."""
        found: list[dict[str, Any]] = self._get("/v1/secrets")["items"]
        return found

    def delete_secret(self, *, org: str, name: str) -> None:
        self._delete(f"/v1/secrets/{segment(org, name)}")
