"""The service transport: the same two reactive jobs (Python SDK and plain Node.js), run as
long-lived HTTP services that answer POST /run with an NDJSON stream."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

from chainlake.local.localpg import free_port
from tests.runtime import EXAMPLES, apply, request_run, running_runner, runs, wait_for
from tests.tenants import Tenants


@pytest.fixture
def services(admin: psycopg.Connection[Any]) -> Iterator[dict[str, str]]:
    """The two services on loopback, at addresses the operator allows."""
    ports = {"double": free_port(), "js_sum": free_port()}
    for port in ports.values():
        admin.execute("SELECT core.allow_egress(%s)", (f"127.0.0.1:{port}",))
    procs = [
        subprocess.Popen(
            [sys.executable, "job.py", "--serve", str(ports["double"])], cwd=EXAMPLES / "double"
        ),
        subprocess.Popen(
            ["node", "job.js", "--serve", str(ports["js_sum"])], cwd=EXAMPLES / "js_sum"
        ),
    ]
    try:
        for port in ports.values():
            wait_for(partial(_listening, port), timeout=20)
        yield {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_dag_runs_with_its_reactive_jobs_as_services(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, services: dict[str, str]
) -> None:
    writer = tenants.user("b", "writer")
    apply(tenants, writer, EXAMPLES / "numbers" / "job.yaml")
    for name, endpoint in services.items():
        apply(
            tenants,
            writer,
            EXAMPLES / name / "job.yaml",
            launcher={"kind": "service", "endpoint": endpoint},
        )
    org = tenants.org_ids["b"]
    with running_runner(tenants, tmp_path):
        request_run(tenants, writer, "numbers", {"count": 3})
        done = wait_for(
            lambda: (lambda rs: rs if len(rs) == 3 else None)(
                [r for r in runs(admin, org) if r["status"] == "succeeded"]
            )
        )
    js_sum = next(r for r in done if r["job_name"] == "js_sum")
    result = json.loads(Path(urlparse(js_sum["outputs"][0]["uris"][0]).path).read_text())
    assert result == {"total": 12, "rows": 3}
