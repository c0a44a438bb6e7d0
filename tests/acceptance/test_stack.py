"""`chainlake up` / `status` / `psql` / `down` on the embedded defaults, as `make up` runs them:
a fresh cluster under CHAINLAKE_HOME, reused by a second `up`, and nothing left running after
`down`."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainlake.secrets import signature
from tests.acceptance.cli import CHAINLAKE, run
from tests.receivers import Receiver, http_receiver
from tests.runtime import wait_for

DEMO_DATASETS = ("erc20_transfers", "token_volume_hourly", "token_prices", "token_volume_usd")


def demo_rows(env: dict[str, str]) -> dict[str, int]:
    """Rows over all versions (partitions) of each dataset of the demo DAG."""
    counts = {}
    for name in DEMO_DATASETS:
        result = run("asset", "versions", name, "--org", "demo", "--json", env=env)
        versions = json.loads(result.stdout) if result.returncode == 0 else []
        counts[name] = sum(v["row_count"] or 0 for v in versions)
    return counts


def processes_matching(text: str) -> list[int]:
    """Live processes whose command line or environment mentions `text`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in seen and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def postgres_processes_for(data_dir: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "postgres" in cmdline and data_dir in cmdline and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http
            return int(response.status)
    except OSError:
        return None


def metrics_of_the_stack(home: dict[str, str], api_url: str) -> None:
    """`chainlake status` names each process's /metrics; the runner's shows the demo's runs and
    live ingest of the devchain; both processes are ready."""
    status = json.loads(run("status", "--json", env=home).stdout)
    found = {c["name"]: c.get("metrics") for c in status["components"]}
    assert found["api"] == f"{api_url}/metrics"
    assert found["runner"] and found["runner"].startswith("http://127.0.0.1:"), found
    assert f"(metrics {found['runner']})" in run("status", env=home).stdout
    with urllib.request.urlopen(found["runner"], timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    assert 'chainlake_runs_finished_total{job="' in text
    assert 'chainlake_ingest_lag_blocks{chain="devchain"}' in text
    for base in (api_url, found["runner"].removesuffix("/metrics")):
        assert _get(f"{base}/health/ready") == 200, base


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def home() -> Iterator[dict[str, str]]:
    base = tempfile.mkdtemp(prefix="chainlake-home-")
    os.chmod(base, 0o755)  # noqa: S103 - the postgres OS user must reach it
    env = {"CHAINLAKE_HOME": str(Path(base) / ".chainlake"), "CHAINLAKE_DATABASE_URL": ""}
    try:
        yield env
    finally:
        run("down", env=env)


@pytest.mark.timeout(600)  # the whole first-day tour, on a loaded CI machine
def test_up_status_psql_second_up_and_down(home: dict[str, str]) -> None:
    first = run("up", env=home, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "chainlake is up" in first.stdout and "127.0.0.1:" in first.stdout

    status = json.loads(run("status", "--json", env=home).stdout)
    (pg,) = [c for c in status["components"] if c["name"] == "postgres"]
    assert pg["state"] == "up" and pg["address"].startswith("127.0.0.1:")
    (runner,) = [c for c in status["components"] if c["name"] == "runner"]
    assert runner["state"] == "up" and alive(runner["pid"])
    (api,) = [c for c in status["components"] if c["name"] == "api"]
    assert api["state"] == "up" and api["address"].startswith("127.0.0.1:")
    wait_for(lambda: _get(f"{api['url']}/health") == 200, timeout=30)
    assert run("psql", "-At", "-c", "select 1", env=home).stdout.strip() == "1"
    assert run("org", "create", "keepme", env=home).returncode == 0

    # the devchain, live ingest and the demo DAG: rows in every node within a minute, growing
    (devchain,) = [c for c in status["components"] if c["name"] == "devchain"]
    assert devchain["state"] == "up" and devchain["chain_id"] == 31337
    wait_for(lambda: all(demo_rows(home).values()), timeout=75)
    first_counts = demo_rows(home)
    wait_for(
        lambda: demo_rows(home)["erc20_transfers"] > first_counts["erc20_transfers"], timeout=30
    )
    chains = json.loads(run("chain", "status", "--json", env=home).stdout)["chains"]
    assert chains[0]["chain_id"] == 31337 and chains[0]["hot_blocks"] > 10
    metrics_of_the_stack(home, api["url"])
    assert run("chain", "check", env=home).returncode == 0
    # the operator's live view, drawn once: the chain followed, the demo's runs, its org busy
    top = json.loads(run("top", "--once", "--json", env=home).stdout)
    (followed,) = top["chains"]
    assert followed["chain_id"] == 31337 and followed["stored_tip"] > 10, followed
    assert followed["lag_seconds"] is not None and followed["endpoints_down"] == 0, followed
    assert top["runs"]["succeeded_5m"] > 0 and top["runs"]["running"] >= 1, top["runs"]
    assert "demo" in [o["org"] for o in top["busiest_orgs"]], top["busiest_orgs"]
    drawn = run("top", "--once", env=home).stdout
    assert "busiest orgs" in drawn and "31337" in drawn and "demo" in drawn, drawn
    refused = run("top", "--json", env=home)
    assert refused.returncode == 2 and "--json prints one overview: add --once" in refused.stderr
    sql = run("chain", "sql", "select count(*) > 0 from logs", env=home)
    assert sql.stdout.splitlines()[-1] == "True", sql.stderr

    # one SQL over chain data and the demo's datasets, as the operator and as a demo user
    assert run("query", "select count(*) > 0 from blocks", env=home).stdout.split()[-1] == "True"
    assert (
        run(
            "user", "create", "dee@demo.example", "--org", "demo", "--role", "reader", env=home
        ).returncode
        == 0
    )
    mine = run(
        "query",
        "--as",
        "dee@demo.example",
        'select count(*) > 0 from "demo"."erc20_transfers"',
        env=home,
    )
    assert mine.stdout.split()[-1] == "True", mine.stderr
    refused = run(
        "query", "--as", "dee@demo.example", "select * from read_csv('/etc/passwd')", env=home
    )
    assert refused.returncode == 2 and "read_csv cannot be called" in refused.stderr
    out = Path(home["CHAINLAKE_HOME"]).parent / "logs.csv"
    download = run(
        "query",
        "--as",
        "dee@demo.example",
        "select * from logs",
        "--format",
        "csv",
        "--out",
        str(out),
        env=home,
    )
    assert download.returncode == 0 and out.read_text().startswith('"chain_id","block_number"')

    found = run("catalog", "search", "transfer", "--as", "dee@demo.example", env=home)
    assert "dataset      demo/erc20_transfers" in found.stdout, found.stdout + found.stderr
    created = run(
        "saved-query",
        "create",
        "recent",
        "--org",
        "demo",
        "--as",
        "dee@demo.example",
        "--sql",
        "select count(*) > $n from blocks",
        "--param",
        "n=0",
        env=home,
    )
    assert created.returncode == 0, created.stderr
    ran = run(
        "saved-query",
        "run",
        "recent",
        "--org",
        "demo",
        "--as",
        "dee@demo.example",
        "--param",
        "n=1",
        env=home,
    )
    assert ran.stdout.split()[-1] == "True", ran.stderr
    assert "demo/recent" in run("saved-query", "list", "--as", "dee@demo.example", env=home).stdout

    # one dataset shared with another org, and the share revoked, by the CLI
    assert run("org", "create", "partner", env=home).returncode == 0
    for email, org, role in (
        ("pat@partner.example", "partner", "reader"),
        ("ada@demo.example", "demo", "admin"),
    ):
        made = run("user", "create", email, "--org", org, "--role", role, env=home)
        assert made.returncode == 0, made.stderr
    theirs = 'select count(*) > 0 from "demo"."erc20_transfers"'
    ref = ("dataset", "demo/erc20_transfers")
    shared = run("share", "grant", *ref, "--with", "partner", "--as", "ada@demo.example", env=home)
    assert shared.returncode == 0, shared.stderr
    read = run("query", "--as", "pat@partner.example", theirs, env=home)
    assert read.stdout.split()[-1] == "True", read.stderr
    listed = run("share", "list", "--as", "ada@demo.example", env=home).stdout
    assert "demo/erc20_transfers -> partner  by ada@demo.example" in listed
    listed = run("share", "list", "--as", "pat@partner.example", env=home).stdout
    assert "dataset      demo/erc20_transfers -> partner" in listed
    revoked = run(
        "share", "revoke", *ref, "--from", "partner", "--as", "ada@demo.example", env=home
    )
    assert revoked.returncode == 0, revoked.stderr
    gone = run("query", "--as", "pat@partner.example", theirs, env=home)
    assert gone.returncode != 0 and "erc20_transfers" in gone.stderr

    # an alert on the live devchain, delivered by the system org's alert-delivery job to a
    # signed webhook on 127.0.0.1, and seen live by `alert listen`
    with http_receiver(Receiver()) as web:
        allowed = run("egress", "allow", web.address, "--note", "the test's receiver", env=home)
        assert allowed.returncode == 0, allowed.stderr
        made = run(
            "alert",
            "channel",
            "create",
            "ops",
            "--org",
            "demo",
            "--kind",
            "webhook",
            "--target",
            f"{web.url}/ops",
            "--as",
            "ada@demo.example",
            env=home,
        )
        assert made.returncode == 0, made.stderr
        key = made.stdout.split("signing key (shown once): ")[1].split()[0]
        listen = subprocess.Popen(
            [
                CHAINLAKE,
                "alert",
                "listen",
                "--org",
                "demo",
                "--count",
                "1",
                "--seconds",
                "60",
                "--as",
                "dee@demo.example",
            ],
            env={**os.environ, **home},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert listen.stderr is not None
        first_line = listen.stderr.readline  # blocks until `alert listen` says it listens
        wait_for(lambda: "listening" in (first_line() or ""), timeout=30)
        rule = run(
            "alert",
            "create",
            "moves",
            "--org",
            "demo",
            "--dataset",
            "chain.transactions",
            "--condition",
            "value > 0",
            "--channel",
            "ops",
            "--dedup-key",
            "chain_id",
            "--throttle",
            "3600",
            "--as",
            "ada@demo.example",
            env=home,
        )
        assert rule.returncode == 0, rule.stderr
        wait_for(lambda: web.posts("/ops"), timeout=60)
        (post,) = web.posts("/ops")
        stamp = post.headers["X-Chainlake-Timestamp"]
        assert post.headers["X-Chainlake-Signature"] == signature(
            key, stamp, post.headers["X-Chainlake-Delivery"], post.body
        )
        assert json.loads(post.body)["rule"] == "moves"
        heard, _ = listen.communicate(timeout=60)
        assert json.loads(heard.splitlines()[0])["rule"] == "moves"
    listed = run("alert", "list", "--as", "dee@demo.example", env=home).stdout
    assert "on  demo/moves" in listed and "fired 1x" in listed
    bad = run(
        "alert",
        "create",
        "bad",
        "--org",
        "demo",
        "--dataset",
        "chain.logs",
        "--condition",
        "value > 1",
        "--as",
        "ada@demo.example",
        env=home,
    )
    assert bad.returncode != 0 and 'column "value" does not exist' in bad.stderr

    second = run("up", env=home, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "migrations up to date" in second.stdout
    assert "keepme" in run("org", "list", env=home).stdout

    data_dir = pg["socket"]
    assert postgres_processes_for(data_dir)
    assert processes_matching(home["CHAINLAKE_HOME"]), "the check sees the stack's processes"
    down = run("down", env=home)
    assert down.returncode == 0 and "api, runner, devchain, s3, postgres" in down.stdout
    assert postgres_processes_for(data_dir) == []
    assert processes_matching(devchain["address"]) == [], "anvil is stopped"
    assert processes_matching(home["CHAINLAKE_HOME"]) == [], "no process of this stack is left"
    assert not alive(runner["pid"]) and not alive(api["pid"])
    status = json.loads(run("status", "--json", env=home).stdout)
    assert status["components"][0]["state"] == "down"
    result = run("psql", "-c", "select 1", env=home)
    assert result.returncode != 0
    assert "the embedded Postgres is not running" in result.stderr
