"""A 5-million-row download streams: the API process's resident memory grows by less than 200 MB
while it serves the whole result as CSV (the API runs as its own process, `python -m api`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from chainlake.local.localpg import free_port
from chainlake.tokens import issue_dev_token
from tests.tenants import Tenants

ROWS = 5_000_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_five_million_row_download_streams_in_bounded_memory(
    tenants: Tenants, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    port = free_port()
    api = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api",
            "--port",
            str(port),
            "--home",
            str(home),
            "--database-url",
            tenants.cluster.url(tenants.database, "chainlake_api"),
            "--storage-url",
            (tmp_path / "store").as_uri(),
        ],
        env={**os.environ, "CHAINLAKE_OIDC_ISSUERS": ""},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        user = tenants.user("a", "reader")
        token = issue_dev_token(home / "dev-issuer", user.id, user.email)
        warm = b'{"sql": "select 1", "format": "csv"}'
        body = (
            b'{"sql": "select i, i * 2 as j, md5(i::varchar) as h from range(%d) t(i)", '
            b'"format": "csv"}' % ROWS
        )
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        post = urllib.request.urlopen
        query_url = f"{url}/v1/query"  # loopback http
        warm_up = urllib.request.Request(query_url, warm, headers, method="POST")  # noqa: S310
        post(warm_up, timeout=30).read()
        baseline = rss_mb(api.pid)
        peak = [baseline]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb(api.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        lines = 0
        download = urllib.request.Request(query_url, body, headers, method="POST")  # noqa: S310
        with post(download, timeout=600) as response:
            while chunk := response.read(1 << 20):
                lines += chunk.count(b"\n")
        done.set()
        sampler.join(5)
        assert lines == ROWS + 1, "every row and the header arrived"
        assert peak[0] - baseline < 200, f"RSS grew {peak[0] - baseline:.0f} MB"
    finally:
        api.terminate()
        api.wait(10)
