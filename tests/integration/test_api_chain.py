"""Chains through the API with the Python client: every user reads each chain's status and
checks one (read-only); an unknown chain is a 404, a bad chain id a 400 naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake.client import Client
from chainlake.errors import InvalidInput, NotFound
from tests.integration.conftest import token
from tests.tenants import Tenants


def test_chain_status_and_check(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    ann = Client(api, token(tmp_path, tenants.user("a", "reader")))
    assert ann.chain_status() == {"chains": []}
    with pytest.raises(NotFound, match="unknown chain 31337"):
        ann.chain_check(chain_id=31337)
    admin.execute("SELECT chain.register_chain(31337, 'dev', 0, 2, 100)")
    (chain,) = ann.chain_status()["chains"]
    assert (chain["chain_id"], chain["name"], chain["reorgs"], chain["last_reorg"]) == (
        31337,
        "dev",
        0,
        None,
    )
    assert ann.chain_check() == {"chain_id": 31337, "problems": []}
    with pytest.raises(InvalidInput, match="chain_id"):
        ann.request("GET", "/v1/chains/0/check")
