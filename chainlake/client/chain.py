"""The API client's chains: the methods of chainlake.domain.chain, by name and keyword
arguments."""

from __future__ import annotations

from typing import Any

from chainlake.client.base import BaseClient


class ChainClient(BaseClient):
    def chain_status(self) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", "/v1/chains")
        return found

    def chain_check(self, *, chain_id: int | None = None, store: Any = None) -> dict[str, Any]:
        """`store` is the local path's; the API checks the chunks in its own store."""
        if chain_id is None:
            chains = self.chain_status()["chains"]
            if len(chains) != 1:
                from chainlake.errors import InvalidInput

                raise InvalidInput(f"chain_id: {len(chains)} chains are registered: name one")
            chain_id = int(chains[0]["chain_id"])
        found: dict[str, Any] = self.request("GET", f"/v1/chains/{int(chain_id)}/check")
        return found
