"""A typed Python client for the chainlake API (docs/client.md).

    from chainlake.client import Client
    with Client("https://chainlake.example.com", token) as api:
        api.whoami()
        table = api.query_arrow(sql="SELECT number, hash FROM blocks LIMIT 10")

Or with a profile signed in by `chainlake login`: `Client.from_profile("prod")`.
Each method has the name and keyword arguments of the domain operation behind its endpoint
(chainlake.domain), and returns the same JSON, so the CLI calls either one alike."""

from __future__ import annotations

from pathlib import Path

from chainlake.client import login
from chainlake.client.alerts import AlertsClient
from chainlake.client.assets import AssetsClient
from chainlake.client.audit import AuditClient
from chainlake.client.base import BaseClient, NotSignedIn, Unreachable
from chainlake.client.catalog import CatalogClient
from chainlake.client.chain import ChainClient
from chainlake.client.grants import GrantsClient
from chainlake.client.jobs import JobsClient
from chainlake.client.orgs import OrgsClient
from chainlake.client.pii import PiiClient
from chainlake.client.profiles import Profiles, selected, token_provider
from chainlake.client.query import QueryClient
from chainlake.client.runs import RunsClient
from chainlake.client.saved import SavedClient
from chainlake.client.secrets import SecretsClient
from chainlake.client.usage import UsageClient
from chainlake.errors import InvalidInput

__all__ = ["BaseClient", "Client", "NotSignedIn", "Unreachable"]


class Client(
    OrgsClient,
    CatalogClient,
    QueryClient,
    SavedClient,
    GrantsClient,
    AuditClient,
    AlertsClient,
    PiiClient,
    SecretsClient,
    JobsClient,
    RunsClient,
    AssetsClient,
    ChainClient,
    UsageClient,
):
    """Every operation of the API (one mixin per domain)."""

    @classmethod
    def from_profile(
        cls, name: str | None = None, *, timeout: float = 30.0, path: Path | None = None
    ) -> Client:
        """A client signed in as a profile of `chainlake login` (None: $CHAINLAKE_PROFILE, else
        the default profile); its token is renewed when it expires, where it can be."""
        chosen = selected(name, path)
        if chosen is None:
            raise InvalidInput(
                "no profile is selected", "`chainlake login --api URL` signs in and makes one"
            )
        profile = Profiles.load(path).get(chosen)
        provider = token_provider(chosen, login.renew, path)
        return cls(profile.api_url, token_provider=provider, timeout=timeout, profile=chosen)
