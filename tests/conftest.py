"""Fixtures shared by every tier. See tests/harness.py and tests/tenants.py."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.harness import TestCluster
from tests.tenants import Tenants, build_tenants

# the CLI the tests run is this machine's, whatever profile its user signed in to (docs/client.md)
os.environ["CHAINLAKE_PROFILE"] = "local"


@pytest.fixture(scope="session")
def cluster() -> Iterator[TestCluster]:
    started = TestCluster.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def database(cluster: TestCluster) -> Iterator[str]:
    """The name of a fresh, fully migrated database for this test."""
    name = cluster.new_database()
    try:
        yield name
    finally:
        cluster.drop_database(name)


@pytest.fixture
def admin_url(cluster: TestCluster, database: str) -> str:
    """The operator's (superuser) URL for this test's database."""
    return cluster.url(database)


@pytest.fixture
def admin(admin_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def tenants(cluster: TestCluster, database: str, admin: psycopg.Connection[Any]) -> Tenants:
    """Orgs a, b, c with a reader, writer and admin each, a grant from a to c, and rows of every
    tenant table for each org (see tests/tenants.py)."""
    return build_tenants(cluster, database, admin)


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections (for network-isolation tests)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()
