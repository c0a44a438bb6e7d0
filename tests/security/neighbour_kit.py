"""The noisy-neighbour scenario of issue 14 ("Checked by"): org "evil" runs every denial of
service of the issue at once while org "acme" uses the platform, with real parts in one process
tree: a Postgres cluster and migrated database, anvil mining every 400 ms with token traffic,
live ingest evaluating alert rules, the alert delivery worker, a runner with the process
launcher, the API (`python -m api`) with an OIDC issuer configured whose provider is down,
acme's webhook receiver, and a webhook that never answers. Shared by bench/neighbour.py (the
`neighbour_*` figures) and tests/security/test_noisy_neighbour.py (pass/fail).

What acme does and what is measured (`measure`, one phase at a time):
- a manual run of its job `ping`, one after the other: from the request (its writer connects
  and calls runs.request) to the run's start (runs.runs.started_at, set when a runner claims
  it); the two clocks are the same host's wall clock;
- a rule that fires on every block, delivered to its webhook: from the block's appearance at
  the node (a newHeads subscriber's receive time) to the webhook's arrival;
- GET /v1/whoami as its reader, four times a second;
- ingest's tip lag: from the block's appearance to its batch's commit.

What evil does (`Attack`), each part bounded in count and time, the way its users could, with
their own login roles over SQL, their own API tokens, their own rules and job definitions:
- slow rules: the slowest condition the save-time checks admit (on chain.transactions), and a
  copy of the original H3 condition stored past the check (as a database from before the fix
  holds it; tests/security/test_h3_slow_condition.py);
- lock attempts: its reader's LOCK TABLE ... ACCESS EXCLUSIVE and pg_advisory_lock on the keys
  the platform used; long transactions of its reader (reads), writer (its rules, definitions
  and channels FOR UPDATE) and admin (its org's row FOR UPDATE), each with its own timeouts
  turned off, kept busy, and opened again when the watchdog ends it;
- a connection flood: its reader opens as many connections as it can;
- a delivery flood: a rule firing on every transaction towards a webhook that never answers;
- slot hogging: long runs of its job `hog`, queued up to its queue quota and kept there;
- junk-issuer tokens: API requests with tokens naming unknown issuers and the configured one
  whose provider is down;
- huge results: streamed queries of 200 MB each, three at once for each of its users.
`Attack.stop` says what evil got (`EvilGot`): refusals, caps, set-aside rules, failures.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from psycopg import errors

from bench.ingest import _appearances
from chainlake import jobdefs, tenancy
from chainlake.alerts.deliver import Deliverer
from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil, Traffic, deploy_token
from chainlake.local.localpg import LocalPostgres, free_port
from chainlake.tokens import issue_dev_token
from runner.worker import Runner, RunnerConfig
from tests.integration.conftest import api_process, send
from tests.oidc import Silent, silent_provider
from tests.receivers import Receiver, Tally, http_receiver, tcp_server
from tests.runtime import TEST_JOBS
from tests.security.neighbour_evil import HOG_SECONDS, Evil, run_clients
from tests.security.test_h3_slow_condition import H3_CONDITION

QUEUE_QUOTA = 10  # the operator's max_queued_tasks for each org
TRANSACTION_MAX_S = 10  # ... and sql_transaction_max_seconds (the watchdog's bound)
WHOAMI_EVERY_S = 0.25
RUN_BOUND_S = 60.0  # a run of acme's not started by then counts as never started
SLOW_DIGITS = (20000, 14000, 10000, 7000, 5000, 3500, 2500, 1800, 1200, 800, 500, 300)
ROLES = {"acme": ("reader", "writer"), "evil": ("reader", "writer", "admin")}


@dataclass
class Member:
    email: str
    id: str
    db_role: str
    token: str


@dataclass
class Org:
    name: str
    id: str
    members: dict[str, Member]


@dataclass
class Neighbourhood:
    """The running stack, acme and evil, and what the watchers saw."""

    pg: LocalPostgres
    database: str
    home: Path
    api: str
    acme: Org
    evil: Org
    web: Receiver
    hole: Tally
    silent: Silent
    ingest: LiveIngest
    seen: dict[int, float]  # block number -> its appearance at the node (monotonic)
    failures: list[BaseException] = field(default_factory=list)  # of the platform's threads

    def url(self, role: str) -> str:
        return self.pg.socket_url(self.database, role)

    def login(self, org: Org, role: str) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(org.members[role].db_role), autocommit=True)

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def arrivals(self) -> dict[int, float]:
        """Block number -> when acme's webhook first received its alert."""
        found: dict[int, float] = {}
        for post in self.web.posts("/acme"):
            found.setdefault(json.loads(post.body)["to_block"], post.at)
        return found


# -- the stack ---------------------------------------------------------------------------------
@contextmanager
def neighbourhood(
    pg: LocalPostgres, database: str, workdir: Path, tx_per_second: float
) -> Iterator[Neighbourhood]:
    """Everything running, acme's rule and job and evil's channel and job in place, acme's first
    alert delivered and first run done; stopped and drained at the end."""
    with ExitStack() as stack, psycopg.connect(pg.socket_url(database), autocommit=True) as admin:
        web = stack.enter_context(http_receiver(Receiver()))
        hole = stack.enter_context(tcp_server(None))
        silent = stack.enter_context(silent_provider())
        home = workdir / "home"
        acme, evil = _tenants(admin, home)
        for address in (web.address, f"127.0.0.1:{hole.port}"):
            admin.execute(
                "SELECT core.allow_egress(%s, 'the noisy-neighbour scenario')", (address,)
            )
        anvil = stack.enter_context(Anvil(free_port()))
        rpc = RpcClient([anvil.url])
        traffic = Traffic(rpc, deploy_token(rpc), rate=tx_per_second, log=_quiet)
        stack.callback(traffic.stop)
        traffic.start()
        config = ChainConfig(chain_id=31337, name="neighbour", rpc_urls=[anvil.url],
                             ingest_from="latest", use_finalized_tag=False)  # fmt: skip
        ingest = LiveIngest(config, pg.socket_url(database, "chainlake_ingest"), log=_quiet)
        stack.callback(ingest.close)
        hood = Neighbourhood(pg, database, home, "", acme, evil, web, hole, silent, ingest, {})
        _acme_and_evil_set_up(hood)
        stack.enter_context(_platform(hood, anvil.url, workdir / "storage"))
        hood.api = stack.enter_context(api_process(hood.url("chainlake_api"), home))[0]
        _ready(hood)
        yield hood


@contextmanager
def _platform(hood: Neighbourhood, node_url: str, storage: Path) -> Iterator[None]:
    """The newHeads watcher, live ingest, the delivery worker and a runner, each in a thread;
    stopped (the runner drained) at the end."""
    stop = threading.Event()
    deliverer = Deliverer(hood.url("chainlake_alerts"), Fernet.generate_key(), log=_quiet)
    runner = Runner(RunnerConfig(hood.url("chainlake_runner"), storage))
    threads = [
        _start(hood, _appearances, node_url, hood.seen, stop),
        _start(hood, hood.ingest.run, stop),
        _start(hood, deliverer.run, stop),
        _start(hood, runner.run_forever),
    ]
    try:
        yield
    finally:
        stop.set()
        runner.stopping.set()
        deadline = time.monotonic() + HOG_SECONDS + 30  # the runner drains evil's long runs
        for thread in threads:
            thread.join(max(0.1, deadline - time.monotonic()))


def _quiet(_message: str) -> None:
    pass


def _start(hood: Neighbourhood, target: Callable[..., Any], *args: Any) -> threading.Thread:
    """A daemon thread running one of the platform's loops; its failure is kept."""

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:  # reported by the scenario's users
            hood.failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _tenants(admin: psycopg.Connection[Any], home: Path) -> tuple[Org, Org]:
    """Orgs acme and evil with their users, and the operator's quotas for both."""
    orgs = []
    home.mkdir(parents=True, exist_ok=True)
    for name, roles in ROLES.items():
        org_id = str(tenancy.create_org(admin, name)["id"])
        members = {}
        for role in roles:
            email = f"{role}@{name}.example"
            user = tenancy.create_user(admin, email, name, role)
            bearer = issue_dev_token(home / "dev-issuer", str(user["id"]), email)
            members[role] = Member(email, str(user["id"]), user["db_role"], bearer)
        orgs.append(Org(name, org_id, members))
    admin.execute(
        "UPDATE core.quotas SET max_queued_tasks = %s, sql_transaction_max_seconds = %s",
        (QUEUE_QUOTA, TRANSACTION_MAX_S),
    )
    return orgs[0], orgs[1]


def _acme_and_evil_set_up(hood: Neighbourhood) -> None:
    """Acme's webhook channel, its rule on every block and its job; evil's channel to the
    webhook that never answers and its long job; the API's OIDC issuer, whose provider is the
    silent one."""
    behave = jobdefs.load(TEST_JOBS / "behave.yaml")
    with hood.login(hood.acme, "writer") as acme:
        acme.execute(
            "INSERT INTO alerts.channels (org_id, name, kind, target) "
            "VALUES (%s, 'ops', 'webhook', %s)",
            (hood.acme.id, f"{hood.web.url}/acme"),
        )
        save_rule(acme, hood.acme.id, "every-block", "chain.blocks", "number >= 0", "ops")
        jobdefs.apply(acme, hood.acme.id, behave | {"name": "ping"})
    with hood.login(hood.evil, "writer") as evil:
        evil.execute(
            "INSERT INTO alerts.channels (org_id, name, kind, target) "
            "VALUES (%s, 'hole', 'webhook', %s)",
            (hood.evil.id, f"http://127.0.0.1:{hood.hole.port}/"),
        )
        jobdefs.apply(evil, hood.evil.id, behave | {"name": "hog", "timeout_seconds": 60})
    issuer = {"discovery_url": hood.silent.discovery_url, "audience": "chainlake"}
    (hood.home / "oidc.yaml").write_text(json.dumps({"issuers": [issuer]}))


def _ready(hood: Neighbourhood) -> None:
    """Blocks ingested, acme's alert delivered, whoami answered, and a first run of acme's
    done (the first process launch is the slowest)."""
    _wait(lambda: hood.ingest.stats.blocks >= 3 and hood.arrivals(), 60, "ingest and an alert")
    status, _ = send(hood.api, "GET", "/v1/whoami", hood.acme.members["reader"].token)
    assert status == 200, status
    with hood.admin() as admin:
        run = _request_run(hood, hood.acme, "ping", {"do": "ok"})
        _wait(_finished(admin, run), 120, "acme's first run")


def save_rule(
    conn: psycopg.Connection[Any],
    org_id: str,
    name: str,
    dataset: str,
    condition: str,
    channel: str,
) -> None:
    """A rule of the org firing to its channel, saved as its writer. The save-time probe (50 ms
    over the latest 100 rows) refuses even a trivial condition on a busy machine now and then:
    a writer tries again."""
    for attempt in range(5):
        try:
            conn.execute(
                "INSERT INTO alerts.rules (org_id, name, dataset, condition, channels) "
                "VALUES (%s, %s, %s, %s, %s)",
                (org_id, name, dataset, condition, [channel]),
            )
            return
        except errors.InvalidParameterValue as exc:
            if "latest" not in str(exc) or attempt == 4:
                raise


def _wait(probe: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def _request_run(hood: Neighbourhood, org: Org, job: str, params: dict[str, Any]) -> str:
    with hood.login(org, "writer") as conn:
        row = conn.execute(
            "SELECT id FROM runs.request(%s, %s, %s)", (org.id, job, json.dumps(params))
        ).fetchone()
    assert row is not None
    return str(row[0])


def _run_status(admin: psycopg.Connection[Any], run_id: str) -> str | None:
    row = admin.execute("SELECT status FROM runs.runs WHERE id = %s", (run_id,)).fetchone()
    return None if row is None else str(row[0])


# -- acme's measurements ------------------------------------------------------------------------
@dataclass
class Samples:
    """One phase's measurements (milliseconds), and what never came within its bound."""

    run_start_ms: list[float] = field(default_factory=list)
    alert_delivery_ms: list[float] = field(default_factory=list)
    whoami_ms: list[float] = field(default_factory=list)
    tip_lag_ms: list[float] = field(default_factory=list)
    missed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def measure(hood: Neighbourhood, seconds: float, grace: float = 10.0) -> Samples:
    """Acme's runs, whoami calls, alerts and ingest for `seconds`; then up to `grace` seconds
    for the alerts and commits of the phase's last blocks."""
    samples = Samples(seconds=seconds)
    stop = threading.Event()
    started = time.monotonic()
    threads = [
        threading.Thread(target=loop, args=(hood, samples, stop), daemon=True)
        for loop in (_whoami_loop, _run_loop)
    ]
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    ended = time.monotonic()
    stop.set()
    blocks = [n for n, at in list(hood.seen.items()) if started <= at < ended]
    _wait_a_while(lambda: set(blocks) <= set(hood.arrivals()), grace)
    for thread in threads:
        thread.join(RUN_BOUND_S + 10)
    _block_samples(hood, blocks, samples)
    return samples


def _wait_a_while(probe: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not probe() and time.monotonic() < deadline:
        time.sleep(0.05)


def _block_samples(hood: Neighbourhood, blocks: list[int], samples: Samples) -> None:
    arrivals, committed = hood.arrivals(), dict(hood.ingest.stats.committed_at)
    for n in sorted(blocks):
        appeared = hood.seen[n]
        if n in arrivals:
            samples.alert_delivery_ms.append(max(0.0, (arrivals[n] - appeared) * 1000))
        else:
            samples.missed["alert"] += 1
        if n in committed:
            samples.tip_lag_ms.append(max(0.0, (committed[n] - appeared) * 1000))
        else:
            samples.missed["commit"] += 1


def _whoami_loop(hood: Neighbourhood, samples: Samples, stop: threading.Event) -> None:
    bearer = hood.acme.members["reader"].token
    while not stop.wait(WHOAMI_EVERY_S):
        began = time.perf_counter()
        try:
            status, _ = send(hood.api, "GET", "/v1/whoami", bearer)
        except OSError:
            status = 0
        if status == 200:
            samples.whoami_ms.append((time.perf_counter() - began) * 1000)
        else:
            samples.missed[f"whoami {status}"] += 1


def _run_loop(hood: Neighbourhood, samples: Samples, stop: threading.Event) -> None:
    """Acme's runs one after the other: each requested, its start timed, its end awaited."""
    with hood.admin() as admin:
        while not stop.wait(0.5):
            asked = time.time()
            try:
                run = _request_run(hood, hood.acme, "ping", {"do": "ok"})
            except psycopg.Error as exc:
                samples.missed[f"run request: {exc.sqlstate}"] += 1
                continue
            started = _started_at(admin, run, asked + RUN_BOUND_S)
            if started is None:
                samples.missed["run"] += 1
                continue
            samples.run_start_ms.append(max(0.0, (started.timestamp() - asked) * 1000))
            _wait_a_while(_finished(admin, run), RUN_BOUND_S)


def _finished(admin: psycopg.Connection[Any], run_id: str) -> Callable[[], bool]:
    return lambda: _run_status(admin, run_id) in ("succeeded", "dead")


def _started_at(admin: psycopg.Connection[Any], run_id: str, until: float) -> datetime | None:
    while time.time() < until:
        row = admin.execute("SELECT started_at FROM runs.runs WHERE id = %s", (run_id,)).fetchone()
        if row is not None and row[0] is not None:
            return row[0]  # type: ignore[no-any-return]
        time.sleep(0.02)
    return None


# -- evil's attack ------------------------------------------------------------------------------
@dataclass
class EvilGot:
    """What each of evil's attacks got."""

    counts: Counter[str]  # locks refused/taken, connections, transactions ended, HTTP statuses
    slow_condition: str | None  # the slowest condition the save-time checks admitted
    rules: dict[str, str | None]  # evil's rules: name -> last_error (set aside when not None)
    hog_most_running: int  # the most of evil's runs running at once
    deliveries: dict[str, int]  # evil's deliveries: delivered, pending, failed attempts
    delivery_errors: set[str]  # their last_error values
    hole_most_open: int  # the most connections evil's senders held open to its black hole
    provider_connections: int  # connections the API made to the provider that is down


class Attack:
    """Evil's attack: its slow rules and its flood rule saved, then every flood of its clients
    (tests/security/neighbour_evil.py) in a process of their own, until `stop`."""

    def __init__(self, hood: Neighbourhood) -> None:
        self.hood = hood
        self.slow_condition: str | None = None
        self.refused: Counter[str] = Counter()
        spawn = multiprocessing.get_context("spawn")
        self.stop_event, self.ready = spawn.Event(), spawn.Event()
        self.results: multiprocessing.Queue[dict[str, int]] = spawn.Queue()
        self.process = spawn.Process(
            target=run_clients,
            args=(self._evil(), self.stop_event, self.ready, self.results),
            daemon=True,
        )

    def _evil(self) -> Evil:
        evil = self.hood.evil
        return Evil(
            org_id=evil.id,
            logins={role: self.hood.url(m.db_role) for role, m in evil.members.items()},
            tokens={role: m.token for role, m in evil.members.items()},
            api=self.hood.api,
            down_issuer=self.hood.silent.issuer,
            acme_id=self.hood.acme.id,
        )

    def start(self) -> Attack:
        self._delivery_flood()
        self.slow_condition = self._slow_rules()
        self.process.start()
        if not self.ready.wait(60):
            raise RuntimeError("evil's clients did not start within 60 s")
        return self

    @property
    def running(self) -> bool:
        return not self.stop_event.is_set()

    def stop(self) -> EvilGot:
        self.stop_event.set()
        counts = self.results.get(timeout=120)
        self.process.join(30)
        with self.hood.admin() as admin:
            return self._what_evil_got(admin, Counter(counts) + self.refused)

    # -- the slow rules and the delivery flood (saved once, at the start) -------------------
    def _slow_rules(self) -> str | None:
        """The slowest of SLOW_DIGITS's conditions the save-time checks admit; and the H3
        condition stored past today's check, as a database from before the fix holds it."""
        admitted = None
        with self.hood.login(self.hood.evil, "writer") as evil:
            for digits in SLOW_DIGITS:
                condition = f"(1e{digits} / 7 + value) * (1e{digits} / 7 + value) > 0"
                try:
                    evil.execute(
                        "INSERT INTO alerts.rules (org_id, name, dataset, condition) "
                        "VALUES (%s, 'slow', 'chain.transactions', %s)",
                        (self.hood.evil.id, condition),
                    )
                except errors.InvalidParameterValue:
                    self.refused["slow rule refused"] += 1
                    continue
                admitted = condition
                break
        with self.hood.admin() as admin:
            admin.execute("ALTER TABLE alerts.rules DISABLE TRIGGER rules_checked")
            admin.execute(
                "INSERT INTO alerts.rules (org_id, name, dataset, condition, predicate) "
                "VALUES (%s, 'h3', 'chain.blocks', %s, %s)",
                (self.hood.evil.id, H3_CONDITION, H3_CONDITION),
            )
            admin.execute("ALTER TABLE alerts.rules ENABLE TRIGGER rules_checked")
        return admitted

    def _delivery_flood(self) -> None:
        """A rule firing on every transaction towards the webhook that never answers."""
        with self.hood.login(self.hood.evil, "writer") as evil:
            save_rule(
                evil, self.hood.evil.id, "every-tx", "chain.transactions", "value >= 0", "hole"
            )

    # -- the verdict -------------------------------------------------------------------------
    def _what_evil_got(self, admin: psycopg.Connection[Any], counts: Counter[str]) -> EvilGot:
        evil = self.hood.evil.id
        rules = dict(
            admin.execute(
                "SELECT name, last_error FROM alerts.rules WHERE org_id = %s", (evil,)
            ).fetchall()
        )
        row = admin.execute(
            "SELECT count(*) FILTER (WHERE state = 'delivered'), "
            "count(*) FILTER (WHERE state = 'pending'), coalesce(sum(attempts), 0) "
            "FROM alerts.deliveries WHERE org_id = %s",
            (evil,),
        ).fetchone()
        delivered, pending, attempts = row or (0, 0, 0)
        delivery_errors = {
            str(r[0])
            for r in admin.execute(
                "SELECT DISTINCT last_error FROM alerts.deliveries "
                "WHERE org_id = %s AND last_error IS NOT NULL",
                (evil,),
            )
        }
        return EvilGot(
            counts=counts,
            slow_condition=self.slow_condition,
            rules=rules,
            hog_most_running=_most_at_once(admin, evil, "hog"),
            deliveries={"delivered": delivered, "pending": pending, "attempts": attempts},
            delivery_errors=delivery_errors,
            hole_most_open=self.hood.hole.most_open,
            provider_connections=len(self.hood.silent.held),
        )


@contextmanager
def attacking(hood: Neighbourhood) -> Iterator[Attack]:
    attack = Attack(hood).start()
    try:
        yield attack
    finally:
        if attack.running:
            attack.stop_event.set()
        attack.process.join(60)


def _most_at_once(admin: psycopg.Connection[Any], org_id: str, job: str) -> int:
    """The most runs of the org's job running at the same moment."""
    edges = []
    for began, ended in admin.execute(
        "SELECT started_at, coalesce(finished_at, now()) FROM runs.runs "
        "WHERE org_id = %s AND job_name = %s AND started_at IS NOT NULL",
        (org_id, job),
    ):
        edges += [(began, 1), (ended, -1)]
    most = now = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        now += step
        most = max(most, now)
    return most
