"""A typed client of the chainlake API: one method per user operation, named as the domain
function (chainlake.domain) it stands for, with the same keyword arguments, returning the same
JSON. `Client(api_url, token)`."""

from __future__ import annotations

from chainlake.client.base import BaseClient
from chainlake.client.secrets import SecretsClient


class Client(SecretsClient):
    """The API's operations, a mixin per domain (chainlake.client.<domain>)."""


__all__ = ["BaseClient", "Client"]
