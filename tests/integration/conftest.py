"""The API on a real port of 127.0.0.1 for integration tests, with datasets of orgs a and b."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from cryptography.fernet import Fernet

from api.app import create_app
from api.auth import Verifier
from chainlake.localpg import free_port
from chainlake.storage import LocalStore
from chainlake.tokens import issue_dev_token
from tests.integration.test_query_engine import add_dataset
from tests.tenants import Tenants, User


@pytest.fixture
def api(tenants: Tenants, tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "home"
    app = create_app(
        tenants.cluster.url(tenants.database, "chainlake_api"),
        Fernet.generate_key(),
        home,
        LocalStore(tmp_path / "store"),
        Verifier(home / "dev-issuer"),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def api_data(tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path) -> None:
    for org, name, values in (("a", "prices", [1, 2, 3]), ("b", "secrets", [42])):
        path = tmp_path / "store" / tenants.org_ids[org] / "_runs" / "r" / f"{name}.parquet"
        add_dataset(admin, tenants.org_ids[org], name, path, values)


def token(tmp_path: Path, user: User) -> str:
    return issue_dev_token(tmp_path / "home" / "dev-issuer", user.id, user.email)


def call(
    url: str, path: str, body: dict[str, Any] | None = None, bearer: str | None = None
) -> tuple[int, str, bytes]:
    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback http
        url + path, data, headers, method="POST" if body else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.headers["content-type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], exc.read()
