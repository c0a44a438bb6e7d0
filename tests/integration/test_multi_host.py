"""Runners on several hosts (issue 18, item 4): a hub host holds Postgres, the object store
(SeaweedFS) and the API; three runner hosts share nothing with it or each other but the network
(network namespaces joined by veths, tests/topology.py; each runner has its own storage root and
reaches Postgres and S3 over TCP only). The example DAG runs across them with every output in the
bucket; a runner host cut off the network mid-job loses its lease, another runner finishes the
run exactly once, and the cut host, back on the network, records nothing for the attempt it lost
and takes new work. A runner that cannot reach its database says so in one line."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from chainlake.chain.rpc import RpcClient
from chainlake.egress import address_of
from chainlake.jobdefs import apply as apply_definition
from chainlake.local import demo
from chainlake.local.devchain import tool
from chainlake.local.localpg import free_port
from chainlake.local.s3 import SeaweedS3, pick_ports, serving, weed_argv
from chainlake.storage import S3Settings, S3Store, key_of
from chainlake.tokens import issue_dev_token
from tests.chainkit import Miner, chain_config, node_head, running_ingest, wait_until
from tests.harness import TestCluster
from tests.integration.test_reorg_demo_dag import CHAIN, Devchain, canonical_transfers
from tests.runtime import EXAMPLES, REPO, TEST_JOBS, apply, request_run, scalar, wait_for
from tests.tenants import Tenants, build_tenants
from tests.topology import NETWORK, Link, Namespace, Topology

pytestmark = [pytest.mark.hosts, pytest.mark.slow]

RUNNERS = 3
LEASE_SECONDS = 6
SLEEP_SECONDS = 6  # the job cut off mid-run
BUCKET = "chainlake"


@dataclass
class Hub:
    """The hub host and the runner hosts' namespaces: links[0] joins the hub to this machine
    (the test's view), links[i] the hub to runner host i."""

    topology: Topology
    ns: Namespace
    hosts: list[Namespace]
    links: list[Link]
    cluster: TestCluster
    s3_port: int
    s3_secret: str
    workdir: Path
    service: str  # the hub's one address every runner host reaches (its devchain price feed)

    def address(self, host: int) -> str:
        """The hub's address as runner host `host` (1..3) reaches it; 0: as this machine."""
        return self.links[host].near_address if host else self.links[0].far_address

    def store(self, prefix: str) -> S3Store:
        """The bucket as this machine reaches it."""
        endpoint = f"http://{self.address(0)}:{self.s3_port}"
        settings = S3Settings(
            BUCKET, prefix, endpoint, SeaweedS3.ACCESS_KEY, self.s3_secret, "us-east-1"
        )
        return S3Store(settings)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    workdir = tmp_path_factory.mktemp("hosts")
    with Topology("clh") as topology:
        ns = topology.namespace("hub")
        links = [topology.link(None, ns)]  # this machine (near) and the hub (far)
        hosts = [topology.namespace(f"r{i}") for i in range(1, RUNNERS + 1)]
        links += [topology.link(ns, host) for host in hosts]  # the hub (near), a runner (far)
        hub_addresses = [links[0].far_address, *(link.near_address for link in links[1:])]
        cluster = TestCluster.start(
            listen=",".join(["127.0.0.1", *hub_addresses]),
            clients=str(NETWORK),
            netns=ns.path,
        )
        try:
            s3_port, s3_secret = _start_s3(topology, ns, links[0].far_address, workdir)
            service = topology.service_address(ns, links[1:])
            yield Hub(topology, ns, hosts, links, cluster, s3_port, s3_secret, workdir, service)
        finally:
            cluster.stop()


def _start_s3(topology: Topology, ns: Namespace, address: str, workdir: Path) -> tuple[int, str]:
    """SeaweedFS in the hub, its S3 port on every address of the hub's."""
    ports, secret = pick_ports(), secrets.token_urlsafe(24)
    argv = [
        "-ip.bind=0.0.0.0" if a.startswith("-ip.bind=") else a
        for a in weed_argv(workdir / "s3", ports)
    ]
    env = {"AWS_ACCESS_KEY_ID": SeaweedS3.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": secret}
    proc = topology.start(ns, argv, workdir / "weed.log", env)
    endpoint = f"http://{address}:{ports[0]}"
    store = S3Store(S3Settings(BUCKET, "", endpoint, SeaweedS3.ACCESS_KEY, secret, "us-east-1"))
    if not serving(store, BUCKET, lambda: proc.poll() is None, 90):
        raise RuntimeError(f"SeaweedFS in the hub did not serve S3; see {workdir / 'weed.log'}")
    return ports[0], secret


@dataclass
class Site:
    """One test's database on the hub, its bucket prefix, and the runner hosts' processes."""

    hub: Hub
    tenants: Tenants
    admin: psycopg.Connection[Any]
    prefix: str
    password: str
    tmp: Path
    processes: dict[str, subprocess.Popen[bytes]]

    @property
    def storage_url(self) -> str:
        return f"s3://{BUCKET}/{self.prefix}"

    def runner_argv(self, host: int, database_url: str) -> list[str]:
        root = self.tmp / f"r{host}"  # this host's own disk: no other host sees it
        return [
            sys.executable, "-m", "runner", "--database-url", database_url,
            "--storage-root", str(root / "storage"), "--storage-url", self.storage_url,
            "--lease-seconds", str(LEASE_SECONDS), "--concurrency", "2", "--name", f"r{host}",
        ]  # fmt: skip

    def database_url(self, host: int, role: str = "chainlake_runner") -> str:
        """What the operator sets on runner host `host`: the hub's address as it reaches it."""
        hub = self.hub
        return (
            f"postgresql://{role}:{self.password}@{hub.address(host)}:"
            f"{hub.cluster.pg.port}/{self.tenants.database}"
        )

    def env(self, host: int) -> dict[str, str]:
        home = self.tmp / f"r{host}" / "home"
        return {
            "AWS_ENDPOINT_URL": f"http://{self.hub.address(host)}:{self.hub.s3_port}",
            "AWS_ACCESS_KEY_ID": SeaweedS3.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.hub.s3_secret,
            "AWS_REGION": "us-east-1",
            "CHAINLAKE_HOME": str(home),
            "CHAINLAKE_JOB_ROOTS": str(REPO),  # the job folders, installed on each host
        }

    def start_runner(self, host: int) -> subprocess.Popen[bytes]:
        (self.tmp / f"r{host}").mkdir(exist_ok=True)
        proc = self.hub.topology.start(
            self.hub.hosts[host - 1],
            self.runner_argv(host, self.database_url(host)),
            self.log(host),
            self.env(host),
            cwd=REPO,
        )
        self.processes[f"r{host}"] = proc
        return proc

    def log(self, host: int) -> Path:
        return self.tmp / f"runner-r{host}.log"

    def stop_runner(self, name: str) -> None:
        proc = self.processes.pop(name)
        proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture
def site(hub: Hub, tmp_path: Path) -> Iterator[Site]:
    database = hub.cluster.new_database()
    try:
        with psycopg.connect(hub.cluster.url(database), autocommit=True) as admin:
            tenants = build_tenants(hub.cluster, database, admin)
            password = secrets.token_urlsafe(18)
            for role in ("chainlake_runner", "chainlake_ingest"):
                admin.execute(
                    "SELECT core.set_login_password(p_role => %s, p_password => %s)",
                    (role, password),
                )
            prefix = f"t-{secrets.token_hex(4)}"
            found = Site(hub, tenants, admin, prefix, password, tmp_path, {})
            try:
                yield found
            finally:
                for name in list(found.processes):
                    proc = found.processes.pop(name)
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(timeout=30)
    finally:
        hub.cluster.drop_database(database)


def final_runs(site: Site, org: str, count: int, timeout: float = 180) -> list[dict[str, Any]]:
    """The org's `count` runs (beyond the seed rows), once each is final."""

    def probe() -> list[dict[str, Any]] | None:
        with site.admin.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "SELECT * FROM runs.runs WHERE org_id = %s AND job_name NOT LIKE 'job%%' "
                "ORDER BY created_at",
                (org,),
            ).fetchall()
        final = [r for r in rows if r["status"] in ("succeeded", "failed", "dead", "cancelled")]
        return rows if len(rows) == count and len(final) == count else None

    return wait_for(probe, timeout=timeout, every=0.25)


def attempts(site: Site, run_id: Any) -> list[dict[str, Any]]:
    with site.admin.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT attempt, runner, status, started_at, finished_at FROM runs.attempts "
            "WHERE run_id = %s ORDER BY attempt",
            (run_id,),
        ).fetchall()


def test_the_example_dag_runs_across_three_runner_hosts(site: Site) -> None:
    tenants, hub = site.tenants, site.hub
    writer = tenants.user("b", "writer")
    for name in ("numbers", "double", "js_sum"):
        apply(tenants, writer, EXAMPLES / name / "job.yaml")
    org = tenants.org_ids["b"]
    for host in range(1, RUNNERS + 1):
        site.start_runner(host)
    for n, count in enumerate((3, 4, 5), start=1):  # each DAG run: numbers -> double -> js_sum
        request_run(tenants, writer, "numbers", {"count": count})
        done = final_runs(site, org, 3 * n)
    assert [r["status"] for r in done] == ["succeeded"] * 9, [r["error"] for r in done]
    by = {a["runner"] for r in done for a in attempts(site, r["id"])}
    assert len(by) >= 2 and by <= {"r1", "r2", "r3"}, f"runners that did the work: {by}"
    store = hub.store(site.prefix)
    for run in done:
        run_prefix = f"{site.storage_url}/{org}/_runs/{run['id']}/"
        uris = [u for o in run["outputs"] for u in o["uris"]]
        assert uris and all(u.startswith(run_prefix) for u in uris), uris
        manifest = json.loads(store.get(f"{org}/_runs/{run['id']}/_manifest.json"))
        assert manifest["run_id"] == str(run["id"])
    versions = scalar(
        site.admin,
        "SELECT count(*) FROM catalog.asset_versions v JOIN catalog.datasets d "
        "ON d.id = v.dataset_id WHERE d.org_id = %s AND d.name = 'numbers_sum'",
        org,
    )
    assert versions == 3, "one version of the sum per DAG run"
    last_sum = done[-1]
    assert last_sum["job_name"] == "js_sum"
    result = json.loads(store.get(key_of(store, last_sum["outputs"][0]["uris"][0]) or ""))
    assert result == {"total": 30, "rows": 5}, "js_sum read double's output from the bucket"
    for host in range(1, RUNNERS + 1):
        disk = site.tmp / f"r{host}" / "storage" / org / "_runs"
        assert not disk.exists() or not any(disk.iterdir()), "nothing stays on a runner's disk"
    _api_shows_the_attempts(site, last_sum["id"])


def _api_shows_the_attempts(site: Site, run_id: Any) -> None:
    """The API, on the hub, shows which runner host ran the run (as a user reads it)."""
    hub, tenants = site.hub, site.tenants
    home = site.tmp / "api-home"
    reader = tenants.user("b", "reader")
    token = issue_dev_token(home / "dev-issuer", reader.id, reader.email)
    port = free_port()
    argv = [
        sys.executable, "-m", "api", "--database-url",
        hub.cluster.url(tenants.database, "chainlake_api"), "--port", str(port),
        "--host", hub.address(0), "--home", str(home),
    ]  # fmt: skip
    proc = hub.topology.start(hub.ns, argv, site.tmp / "api.log", cwd=REPO)
    base = f"http://{hub.address(0)}:{port}"
    request = urllib.request.Request(  # noqa: S310 - the hub's address, inside the test's netns
        f"{base}/v1/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}
    )

    def shown() -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                found: dict[str, Any] = json.loads(response.read())
                return found
        except OSError:
            return None if proc.poll() is None else {"exited": proc.returncode}

    run = wait_for(shown, timeout=60, every=0.25)
    assert run.get("status") == "succeeded", run
    assert {a["runner"] for a in run["attempts"]} <= {"r1", "r2", "r3"}, run["attempts"]


def test_a_runner_host_cut_off_mid_job_loses_its_lease_and_rejoins(site: Site) -> None:
    tenants, hub = site.tenants, site.hub
    writer = tenants.user("a", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml")  # 3 attempts, 30 s timeout
    org = tenants.org_ids["a"]
    for host in range(1, RUNNERS + 1):
        site.start_runner(host)
    slow = request_run(tenants, writer, "behave", {"do": "sleep", "seconds": SLEEP_SECONDS})

    def holder() -> str | None:
        found = attempts(site, slow["id"])
        return found[0]["runner"] if found else None

    cut = wait_for(holder, timeout=60)
    time.sleep(1)  # the job is a second into its work: there is work to lose
    host = int(cut.removeprefix("r"))
    hub.links[host].down()
    cut_at, cut_db = time.monotonic(), scalar(site.admin, "SELECT now()")
    (run,) = final_runs(site, org, 1, timeout=120)
    first, second = attempts(site, run["id"])
    assert run["status"] == "succeeded", run["error"]
    assert (first["runner"], first["status"]) == (cut, "lost"), first
    assert second["runner"] != cut and second["status"] == "succeeded", second
    takeover = (second["started_at"] - cut_db).total_seconds()
    print(f"cut to takeover: {takeover:.1f} s (lease {LEASE_SECONDS} s)")
    store = hub.store(site.prefix)
    run_keys = f"{org}/_runs/{run['id']}/"
    before = _objects(store, run_keys)
    assert before, "the run's outputs are in the bucket"
    # the cut host's job ends too, and its runner stops waiting for the heartbeat (10 s) and
    # goes on to record the attempt: only then does the link come back
    time.sleep(max(0.0, cut_at + SLEEP_SECONDS + 15 - time.monotonic()))

    hub.links[host].up()  # back on the network: the cut runner learns it lost the attempt
    wait_for(lambda: "attempt 1: abandoned" in site.log(host).read_text(), timeout=120)
    for other in [n for n in site.processes if n != cut]:
        site.stop_runner(other)
    later = request_run(tenants, writer, "behave", {"do": "ok"})
    wait_for(
        lambda: (
            scalar(site.admin, "SELECT status FROM runs.runs WHERE id = %s", later["id"])
            == "succeeded"
        ),
        timeout=120,
    )
    assert [a["runner"] for a in attempts(site, later["id"])] == [cut], "the cut host rejoined"
    assert attempts(site, run["id"]) == [first, second], "nothing recorded for the lost attempt"
    assert _objects(store, run_keys) == before, "the lost attempt uploaded nothing over them"
    versions = scalar(
        site.admin,
        "SELECT count(*) FROM catalog.asset_versions WHERE run_id = %s",
        run["id"],
    )
    assert versions == 1, "one version of the output"


def _objects(store: S3Store, prefix: str) -> dict[str, Any]:
    """Each object under `prefix` (of the store's) with its ETag and time of writing."""
    listed = store.client.list_objects_v2(Bucket=BUCKET, Prefix=f"{store.settings.prefix}/{prefix}")
    return {o["Key"]: (o["ETag"], o["LastModified"]) for o in listed.get("Contents", [])}


def test_a_runner_that_cannot_reach_its_database_says_where(site: Site, hub: Hub) -> None:
    """Runner host 1 given the hub's address on host 2's link (no route from host 1): one line
    naming the address, exit code 2, nothing recorded."""
    wrong = site.database_url(2)
    argv = site.runner_argv(1, wrong)
    done = subprocess.run(
        hub.hosts[0].enter(argv),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **site.env(1)},
        cwd=REPO,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert f"cannot reach the database at {hub.address(2)}:{hub.cluster.pg.port}" in lines[0]
    assert site.password not in lines[0], "the password is never printed"
    assert scalar(site.admin, "SELECT count(*) FROM runs.attempts WHERE runner = 'r1'") == 0


# the devchain's price feed (chainlake.local.pricefeed) on an address of the hub's
FEED = (
    "import sys; from http.server import ThreadingHTTPServer; "
    "from chainlake.local.pricefeed import PriceFeed; "
    "ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), "
    "PriceFeed().server.RequestHandlerClass).serve_forever()"
)


def _devchain_on_the_hub(site: Site) -> tuple[str, str]:
    """Anvil (mining on request) and the price feed in the hub: anvil's URL as this machine
    reaches it (live ingest, the miner and the traffic run here), the feed's as runners do."""
    hub = site.hub
    anvil_port, feed_port = free_port(), free_port()
    anvil = [
        tool("anvil"), "--host", hub.address(0), "--port", str(anvil_port),
        "--chain-id", str(CHAIN), "--accounts", "10", "--silent", "--no-mining",
    ]  # fmt: skip
    site.processes["anvil"] = hub.topology.start(hub.ns, anvil, site.tmp / "anvil.log")
    feed = [sys.executable, "-c", FEED, hub.service, str(feed_port)]
    site.processes["feed"] = hub.topology.start(hub.ns, feed, site.tmp / "feed.log", cwd=REPO)
    url = f"http://{hub.address(0)}:{anvil_port}"
    probe = RpcClient([url], timeout=1.0, max_attempts=1)

    def answers() -> bool:
        try:
            return bool(probe.call("eth_chainId"))
        except Exception:
            return False

    wait_for(answers, timeout=60, every=0.2)
    feed_url = (
        f"http://{hub.service}:{feed_port}/api/v3/simple/token_price/devchain"
        "?contract_addresses={addresses}&vs_currencies=usd"
    )
    return url, feed_url


def _install_demo(site: Site, token: str, feed: str) -> None:
    """The demo DAG's jobs in org a, as `chainlake up` fills them in (erc20_transfers every
    second), the feed's address allowed by the operator."""
    tenants = site.tenants
    target = demo.ChainTarget(CHAIN, "dev", [], token=token, price_feed=feed)
    site.admin.execute("SELECT core.allow_egress(%s)", (address_of(feed),))
    with tenants.login(tenants.user("a", "writer")) as conn:
        for spec in demo.demo_jobs(target):
            if spec["name"] == "erc20_transfers":
                spec["chain_input"] = {"min_interval_seconds": 1}
            apply_definition(conn, tenants.org_ids["a"], spec)
    request_run(tenants, tenants.user("a", "writer"), "token_prices")


def test_the_demo_dag_runs_across_three_runner_hosts(site: Site) -> None:
    """Live ingest of a devchain on the hub feeds the demo DAG (erc20_transfers ->
    token_volume_hourly -> token_volume_usd, with token_prices from the hub's feed) run by the
    three runner hosts: caught up at the head, each canonical transfer derived once."""
    tenants = site.tenants
    org = tenants.org_ids["a"]
    url, feed = _devchain_on_the_hub(site)
    node = Devchain(url)
    try:
        _install_demo(site, node.token, feed)
        ingest_url = site.database_url(0, "chainlake_ingest")
        with running_ingest(chain_config(url, CHAIN), ingest_url), Miner(node.rpc) as miner:
            for host in range(1, RUNNERS + 1):
                site.start_runner(host)
            wait_until(lambda: node_head(node.rpc) >= 30, 60, "blocks with transfers")
            node.traffic.stop()
            with miner.paused():
                head = node_head(node.rpc)
                wait_until(lambda: demo.caught_up(site.admin, org, CHAIN, head), 150, "the DAG")
                canonical = canonical_transfers(node.rpc, node.token, head)
    finally:
        node.traffic.stop()
    with site.admin.cursor(row_factory=dict_row) as cur:
        ran = cur.execute(
            "SELECT r.job_name, r.status, r.outputs, r.error, a.runner FROM runs.runs r "
            "JOIN runs.attempts a ON a.run_id = r.id AND a.attempt = r.attempt "
            "WHERE r.org_id = %s AND r.job_name = ANY(%s)",
            (org, [*demo.RANGED, "token_prices"]),
        ).fetchall()
    done = [r for r in ran if r["status"] == "succeeded"]
    assert {r["job_name"] for r in done} == {*demo.RANGED, "token_prices"}, [
        (r["job_name"], r["status"], r["error"]) for r in ran if r["status"] != "succeeded"
    ]
    assert len({r["runner"] for r in done}) >= 2, "the DAG ran on more than one host"
    uris = [u for r in done for o in r["outputs"] for u in o["uris"]]
    assert uris and all(u.startswith(site.storage_url + "/") for u in uris), uris[:3]
    derived = scalar(
        site.admin,
        "SELECT sum(v.row_count) FROM catalog.asset_versions v JOIN catalog.datasets d "
        "ON d.org_id = v.org_id AND d.id = v.dataset_id "
        "WHERE d.org_id = %s AND d.name = 'erc20_transfers' AND v.superseded_at IS NULL",
        org,
    )
    assert canonical and derived == len(canonical), "each transfer derived once, none lost"
