"""A typed Python client for the chainlake API: `Client(api_url, token)` has a method for each
user operation of the domain layer (chainlake.domain), with the same name and keyword
arguments, returning the same JSON."""

from __future__ import annotations

from chainlake.client.assets import AssetsClient
from chainlake.client.base import BaseClient
from chainlake.client.chain import ChainClient
from chainlake.client.jobs import JobsClient
from chainlake.client.runs import RunsClient

__all__ = ["BaseClient", "Client"]


class Client(JobsClient, RunsClient, AssetsClient, ChainClient):
    """Every operation of the API, one mixin per domain."""
