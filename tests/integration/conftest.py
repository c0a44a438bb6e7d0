"""The API on a real port of 127.0.0.1 for integration tests, with datasets of orgs a and b, and
one object of org a through each writing endpoint (objects_of_a)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from cryptography.fernet import Fernet

from api.app import create_app
from api.auth import Verifier
from chainlake import jobdefs
from chainlake.containers import build_job_image, ensure_base_image
from chainlake.local.localpg import free_port
from chainlake.local.s3 import SeaweedS3
from chainlake.storage import LocalStore, ObjectStore
from chainlake.tokens import issue_dev_token
from tests.integration.test_query_engine import add_dataset
from tests.remote_engine import Engine, started_engine
from tests.runtime import EXAMPLES, TEST_JOBS
from tests.tenants import Tenants, User


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS for the session (each test takes a prefix of its own)."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(tenants: Tenants, tmp_path: Path) -> Iterator[str]:
    with serve_api(tenants, tmp_path) as url:
        yield url


@contextmanager
def serve_api(
    tenants: Tenants,
    tmp_path: Path,
    verifier: Verifier | None = None,
    secret_key: bytes | None = None,
    store: ObjectStore | None = None,
) -> Iterator[str]:
    """The API on a free port, as chainlake_api; tokens of the dev issuer under tmp_path/home,
    or what `verifier` accepts; secrets decrypted with `secret_key` (default: a fresh key)."""
    home = tmp_path / "home"
    app = create_app(
        tenants.cluster.url(tenants.database, "chainlake_api"),
        secret_key or Fernet.generate_key(),
        home,
        store or LocalStore(tmp_path / "store"),
        verifier or Verifier(home / "dev-issuer"),
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


@contextmanager
def api_process(database_url: str, home: Path) -> Iterator[tuple[str, int]]:
    """`python -m api` (what `chainlake up` starts) on a free port, connecting with
    `database_url` (chainlake_api's), its tokens' dev issuer and configuration under `home`:
    its URL and pid."""
    port = free_port()
    argv = [sys.executable, "-m", "api", "--database-url", database_url, "--port", str(port)]
    proc = subprocess.Popen([*argv, "--home", str(home)], cwd=Path(__file__).parents[2])
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        deadline = time.monotonic() + 30
        while not healthy():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the API did not answer on {base} within 30 s")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def content_tag(folder: Path) -> str:
    """A tag naming the folder's content and the SDK's: sessions of other checkouts on the same
    machine, building the same job with other code, never overwrite this one's image."""
    digest = hashlib.sha256()
    sdk = Path(__file__).resolve().parents[2] / "chainlake" / "sdk" / "__init__.py"
    for path in sorted([*folder.rglob("*"), sdk]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(path.anchor)).encode() + path.read_bytes())
    return f"1-{digest.hexdigest()[:12]}"


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Container job images for this session (the base image is built once per machine)."""
    ensure_base_image()
    return {
        name: build_job_image(folder, name, content_tag(folder))
        for name, folder in (
            ("numbers", EXAMPLES / "numbers"),
            ("js_sum", EXAMPLES / "js_sum"),
            ("behave", TEST_JOBS),
            ("hostile", EXAMPLES / "hostile"),
        )
    }


@pytest.fixture(scope="session")
def remote_engine(
    tmp_path_factory: pytest.TempPathFactory, images: dict[str, str]
) -> Iterator[Engine]:
    """A remote container engine (tests/remote_engine.py), one per session and worker: the
    remote-engine tests and the s28 attacks share it (each checks only its own runs' containers,
    and a runner reaps only attempts its own database knows)."""
    yield from started_engine(tmp_path_factory.mktemp("engine"), images)


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


def send(url: str, method: str, path: str, bearer: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        url + path,
        json.dumps(body).encode() if body is not None else None,
        {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


OBJECT_NAME = "zz_mark"  # the name of each of org a's objects made by objects_of_a


def objects_of_a(tenants: Tenants, admin: psycopg.Connection[Any], api: str, tmp: Path) -> None:
    """Org a's objects, each named OBJECT_NAME and holding a marker only a's rows hold
    (hidden_sql_marker, 424242, CHANMARK, DESCMARK): a dataset, a saved query shared with the
    org, an alert channel and a rule using it, and the dataset shared with org c (the org-wide
    grant from a to c is revoked, so only that object grant shares it)."""
    org_a = tenants.org_ids["a"]
    add_dataset(admin, org_a, OBJECT_NAME, tmp / "store" / org_a / "_runs" / "r" / "m.parquet", [1])
    admin.execute(
        "UPDATE catalog.datasets SET description = 'DESCMARK' WHERE name = %s", (OBJECT_NAME,)
    )
    admin.execute("SELECT core.revoke_org_read('a', 'c')")
    wes = token(tmp, tenants.user("a", "writer"))
    ada = token(tmp, tenants.user("a", "admin"))
    sql = f'SELECT \'hidden_sql_marker\' AS m FROM "a"."{OBJECT_NAME}"'
    saved = {"name": OBJECT_NAME, "sql": sql, "visibility": "org"}
    assert send(api, "POST", "/v1/saved-queries/a", wes, saved)[0] == 201
    channel = {"name": OBJECT_NAME, "kind": "webhook", "target": "http://127.0.0.1:9/CHANMARK"}
    assert send(api, "POST", "/v1/alerts/channels/a", wes, channel)[0] == 201
    rule = {
        "name": OBJECT_NAME,
        "dataset": "chain.blocks",
        "condition": "gas_used > 424242",
        "channels": [OBJECT_NAME],
    }
    assert send(api, "POST", "/v1/alerts/rules/a", wes, rule)[0] == 201
    grant = {"kind": "dataset", "org": "a", "name": OBJECT_NAME, "grantee": "c"}
    assert send(api, "POST", "/v1/grants", ada, grant)[0] == 201
    run_of_a(admin, org_a)


def run_of_a(admin: psycopg.Connection[Any], org_a: str) -> None:
    """A job of org a, a run of it (cancelled: final, so that a followed log ends at once) and
    a dead letter of that run whose error holds a marker."""
    spec = jobdefs.load(TEST_JOBS / "behave.yaml") | {"name": OBJECT_NAME}
    jobdefs.apply(admin, org_a, spec)
    (run_id,) = admin.execute(
        "SELECT id FROM runs.request(%s, %s, p_idempotency_key => %s)",
        (org_a, OBJECT_NAME, OBJECT_NAME),
    ).fetchone() or (None,)
    admin.execute("SELECT runs.cancel(%s)", (str(run_id),))
    admin.execute(
        "INSERT INTO runs.dead_letters (org_id, run_id, job_name, attempts, error) "
        'VALUES (%s, %s, %s, 3, \'{"type": "E", "message": "DESCMARK"}\')',
        (org_a, run_id, OBJECT_NAME),
    )


def _of_a(tenants: Tenants, sql: str, missing: str) -> str:
    """The id objects_of_a made (`sql` finds it), or `missing` before it ran."""
    with psycopg.connect(tenants.cluster.url(tenants.database), autocommit=True) as admin:
        row = admin.execute(sql, (tenants.org_ids["a"], OBJECT_NAME)).fetchone()
    return str(row[0]) if row else missing


def path_values(tenants: Tenants) -> dict[str, str]:
    """A value for each path parameter of the API that names one of objects_of_a's objects."""
    return {
        "org": "a",
        "name": OBJECT_NAME,
        "kind": "dataset",
        "grantee": "c",
        "org_id": tenants.org_ids["a"],
        "job": OBJECT_NAME,
        "dataset": OBJECT_NAME,
        "run_id": _of_a(
            tenants,
            "SELECT id FROM runs.runs WHERE org_id = %s AND job_name = %s",
            "00000000-0000-4000-8000-00000000000a",
        ),
        "letter_id": _of_a(
            tenants, "SELECT id FROM runs.dead_letters WHERE org_id = %s AND job_name = %s", "1"
        ),
        "backfill_id": "00000000-0000-4000-8000-00000000000b",
        "chain_id": "1",
    }
