"""The runner: read a task, claim an attempt, launch, relay events, heartbeat, then complete or
fail, all through the stored run-lifecycle functions (sql/runs/50_runs.sql). Stateless: any number
of runners may work against one Postgres; killing one loses nothing (its lease expires and
another runner takes the task over with the same idempotency key).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from chainlake.chain.export import RangeExport, export_range
from chainlake.config import find_home
from chainlake.contract import CONTRACT_VERSION, problems, value_problem
from chainlake.db import runner_transaction
from chainlake.egress import load_policy
from chainlake.errors import ChainlakeError
from chainlake.logs import bind, log_context
from chainlake.manifests import describe, write_manifest
from chainlake.observe.collector import PostgresCollector
from chainlake.observe.metrics import RunnerMetrics
from chainlake.outbound import Policy
from chainlake.paths import linked_prefix, output_prefix
from chainlake.secrets import decrypt
from chainlake.storage import ObjectStore, open_store
from chainlake.tracecontext import traceparent
from runner import phases
from runner.docker_engine import DockerLauncher
from runner.egress import Egress
from runner.events import EventLog
from runner.launchers import (
    PLATFORM_CREDENTIALS,
    UNMOUNTABLE,
    Outcome,
    launchers,
    out_of_memory,
)
from runner.redaction import Redactor
from runner.sandbox import job_roots, platform_view
from runner.scheduler import TICK
from runner.staging import StagingError, in_object_store, publish_outputs, stage_inputs
from runner.usage import Usage
from runner.workspace import Owner, WorkspaceError, make_directory

QUEUE = "run_tasks"
# A runner that lost its database tries again after 1 s, then 2, 4, ... at most 30 s apart.
RECONNECT_FIRST_S = 1.0
RECONNECT_MAX_S = 30.0
# How often an idle runner with tasks in flight looks for a slot freed and a task queued.
IDLE_STEP_S = 0.02
# how often a runner on a remote engine removes containers of attempts that are over
REAP_EVERY_S = 10.0
STORE_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
)
NOTIFY_CHANNEL = f"pgmq.q_{QUEUE}.INSERT"
log = logging.getLogger("chainlake.runner")


@dataclass
class RunnerConfig:
    database_url: str
    storage_root: Path
    concurrency: int = 4  # tenant slots
    lease_seconds: int = 30
    poll_seconds: float = 0.5
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    default_timeout_seconds: float = 3600
    schedule_every_seconds: float = 1.0
    # Platform credentials for the system org's jobs (chain ingestion): the chain-writing role's
    # URL, and the object store of cold chain data (default: the storage root).
    chain_database_url: str | None = None
    storage_url: str | None = None
    # ... and for alert delivery: the delivery role's URL and the key channel secrets decrypt with
    alerts_database_url: str | None = None
    secret_key: str | None = None
    # Slots of the system org's jobs (always_on ingest and delivery, archive), apart from the
    # tenants' ones: the platform never takes a tenant's slot nor waits for one.
    platform_slots: int = 4
    # Tenant slots one org may hold at once; default: all but one, so another org always finds
    # a slot on this runner while one org's long runs hold the rest.
    slots_per_org: int | None = None
    # Where container jobs run: the local podman, or a Docker API address (tcp://, ssh://,
    # unix://) of a remote engine (runner/docker_engine.py); the operator's choice, never a job's
    container_engine: str = "podman"

    @property
    def store_url(self) -> str:
        return self.storage_url or self.storage_root.resolve().as_uri()

    @property
    def org_cap(self) -> int:
        return self.slots_per_org or max(1, self.concurrency - 1)

    def slots(self, platform: bool) -> int:
        return self.platform_slots if platform else self.concurrency


@dataclass(frozen=True)
class Slot:
    """What a running task holds: a slot of the platform's or of the tenants', for an org."""

    org_id: str
    platform: bool


class Runner:
    def __init__(self, config: RunnerConfig, metrics: RunnerMetrics | None = None) -> None:
        self.config = config
        # counted here as runs happen; what Postgres holds is read when scraped (/metrics)
        self.metrics = metrics or RunnerMetrics()
        self.metrics.set_org_label(self.org_label)
        self.metrics.attach(PostgresCollector(config.database_url, self.metrics))
        # process jobs see the platform's state hidden (runner/sandbox.py); a remote container
        # engine is pinged here, before anything else starts (EngineUnreachable)
        home = find_home()
        view = platform_view(home, config.storage_root)
        self.launchers = launchers(
            Egress(self.egress_policy),
            view,
            job_roots(home),
            config.storage_root,
            config.container_engine,
        )
        slots = config.concurrency + config.platform_slots
        self.pool = ConnectionPool(config.database_url, min_size=1, max_size=slots + 2, open=True)
        self.executor = ThreadPoolExecutor(max_workers=slots)
        self.in_flight: dict[Future[None], Slot] = {}
        self.stopping = threading.Event()
        self.slot_freed = threading.Event()

    def org_label(self, org_id: str) -> str:
        """An org's name, the label of its runs' metrics (core.org_label)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT core.org_label(%s)", (org_id,)).fetchone()
        return str(row[0]) if row and row[0] else "unknown"

    def egress_policy(self) -> Policy:
        """Where runs may reach out (core.egress_policy()), read when a run starts."""
        with self.pool.connection() as conn:
            return load_policy(conn)

    # -- the loop ---------------------------------------------------------------------------
    def run_forever(self, max_seconds: float | None = None) -> None:
        """Serve tasks until SIGTERM/SIGINT (then drain) or `max_seconds` pass."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            if threading.current_thread() is threading.main_thread():
                signal.signal(sig, lambda *_: self.stopping.set())
        ends = None if max_seconds is None else time.monotonic() + max_seconds
        listener: psycopg.Connection[Any] | None = None
        next_schedule = next_reap = time.monotonic()
        pause = RECONNECT_FIRST_S
        while not self.stopping.is_set() and (ends is None or time.monotonic() < ends):
            try:
                if listener is None or listener.closed:
                    listener = self.listen()
                if time.monotonic() >= next_schedule:
                    self.fire_schedules()
                    next_schedule = time.monotonic() + self.config.schedule_every_seconds
                if time.monotonic() >= next_reap:
                    self.reap_engine()
                    next_reap = time.monotonic() + REAP_EVERY_S
                self.in_flight = {f: s for f, s in self.in_flight.items() if not f.done()}
                if self.poll_once() == 0:
                    self.idle(listener)
                pause = RECONNECT_FIRST_S
            except (psycopg.OperationalError, PoolTimeout) as exc:  # a restart, a failover, a cut
                log.warning("the database is unreachable, trying again in %g s: %s", pause, exc)
                if listener is not None:
                    listener.close()
                listener = None
                self.stopping.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX_S)
        if listener is not None:
            listener.close()
        self.drain()

    def listen(self) -> psycopg.Connection[Any]:
        """The connection that wakes an idle runner when a task is queued."""
        listener = psycopg.connect(self.config.database_url, autocommit=True, connect_timeout=10)
        listener.execute(f'LISTEN "{NOTIFY_CHANNEL}"')
        return listener

    def idle(self, listener: psycopg.Connection[Any]) -> None:
        """Nothing was taken. Wake on the next task queued (a notify, while a slot is free), on
        a task of ours ending (a slot freed: tasks held back by the per-org cap or a throttle
        are waiting for it, and no notify will come for them), or after poll_seconds."""
        ends = time.monotonic() + self.config.poll_seconds
        while time.monotonic() < ends and not self.stopping.is_set():
            if self.in_flight and self.slot_freed.wait(IDLE_STEP_S):
                self.slot_freed.clear()
                return
            if any(self.free(platform) for platform in (True, False)):
                step = IDLE_STEP_S if self.in_flight else max(0.0, ends - time.monotonic())
                for _ in listener.notifies(timeout=step, stop_after=1):
                    return

    def fire_schedules(self) -> None:
        """Cron ticks, always_on supervision and the watchdog (each safe with any number of
        runners, and each on its own: one failing never skips the others)."""
        for step in TICK:
            try:
                with self.pool.connection() as conn:
                    step(conn)
            except Exception:  # the loop serves every org: it never stops on one step
                log.exception("schedule tick: %s failed", step.__name__)

    def reap_engine(self) -> None:
        """Containers a remote engine still holds for attempts that are over (their runner died
        while they ran) are removed: any runner on that engine does it, so none outlives its
        run by more than a lease and REAP_EVERY_S."""
        engine = self.launchers["container"]
        if not isinstance(engine, DockerLauncher):
            return  # the local podman's containers end with their runner's conmon
        try:
            removed = engine.reap(self.attempt_outlived)
        except Exception:  # the engine away: the next round
            log.exception("reaping the container engine %s failed", engine.address)
            return
        for name in removed:
            log.info("removed %s from the container engine: its attempt is over", name)

    def attempt_outlived(self, org_id: str, run_id: str, attempt: int) -> bool | None:
        """Whether that attempt is over (runs.attempt_outlived); None when it is not known."""
        try:
            with self.pool.connection() as conn, runner_transaction(conn, org_id) as cur:
                row = cur.execute(
                    "SELECT runs.attempt_outlived(%s, %s) AS over", (run_id, attempt)
                ).fetchone()
        except psycopg.DataError:  # a label that is no id
            return None
        return None if row is None else row["over"]

    def drain(self) -> None:
        """Finish what is running (always_on jobs are asked to stop), take nothing new."""
        self.stopping.set()
        self.executor.shutdown(wait=True)
        self.pool.close()

    def free(self, platform: bool) -> int:
        held = sum(1 for slot in self.in_flight.values() if slot.platform == platform)
        return self.config.slots(platform) - held

    def poll_once(self) -> int:
        """Take tasks for the free slots, the platform's and the tenants' apart; how many."""
        return sum(self.take(platform) for platform in (True, False) if self.free(platform))

    def take(self, platform: bool) -> int:
        asked = time.perf_counter()  # the claim phase of each task taken starts here
        busy = Counter(s.org_id for s in self.in_flight.values() if not s.platform)
        with self.pool.connection() as conn:
            conn.autocommit = True
            rows = conn.execute(  # round-robin across orgs (fairness), else like pgmq.read
                "SELECT msg_id, read_ct, message FROM runs.take_tasks(%s, %s, %s, %s, %s)",
                (
                    self.free(platform),
                    self.config.lease_seconds,
                    platform,
                    None if platform else self.config.org_cap,
                    json.dumps(busy),
                ),
            ).fetchall()
        for msg_id, _read_ct, message in rows:
            future = self.executor.submit(self.handle_safely, msg_id, message, asked)
            self.in_flight[future] = Slot(message["org_id"], platform)
        return len(rows)

    def handle_safely(
        self, msg_id: int, message: dict[str, Any], asked: float | None = None
    ) -> None:
        phases.begin(asked)
        # every line logged while this attempt is handled names its run (chainlake/logs.py)
        with log_context(org=message.get("org_id"), run_id=message.get("run_id")) as fields:
            try:
                self.handle(msg_id, message)
            except Exception:  # the task stays leased and is retried when the lease expires
                log.exception("task %s failed in the runner", msg_id)
            finally:
                phases.end(message.get("run_id"), fields.get("trace_id"))
                self.metrics.forget(message.get("run_id"))
                self.slot_freed.set()

    # -- one task ---------------------------------------------------------------------------
    def handle(self, msg_id: int, message: dict[str, Any]) -> None:
        run_id, org_id = message["run_id"], message["org_id"]
        with self.pool.connection() as conn:
            with runner_transaction(conn, org_id) as cur:
                row = cur.execute(
                    "SELECT * FROM runs.start(%s, %s, %s)",
                    (run_id, self.config.name, self.config.lease_seconds),
                ).fetchone()
            assert row is not None
            verdict = row["verdict"]
            if verdict in ("finished", "unknown"):  # a duplicate delivery: acknowledge it
                conn.execute("SELECT pgmq.archive(%s, %s::bigint)", (QUEUE, msg_id))
                conn.commit()
                return
            if verdict == "throttled":
                conn.execute("SELECT pgmq.set_vt(%s, %s::bigint, 1)", (QUEUE, msg_id))
                conn.commit()
                return
            if verdict != "run":
                return
        phases.lap("claim")
        run, definition = row["run"], row["definition"]
        bind(job=run.get("job_name"), attempt=run.get("attempt"), trace_id=run.get("trace_id"))
        self.metrics.run_started(run, _epoch(run.get("created_at")))
        try:
            self.execute(msg_id, run, definition)
        except Exception as exc:  # a fault of the runner's own: fail the attempt, visibly
            log.exception("run %s failed in the runner", run["id"])
            error = {
                "type": "RunnerError",
                "message": f"{type(exc).__name__}: {exc}",
                "stack": traceback.format_exc(),
                "retryable": True,
            }
            self.finish(run, int(run["attempt"]), error, None)

    @cached_property
    def store(self) -> ObjectStore:
        """Where runs' files and cold chain data live (one client, shared by the slots)."""
        return open_store(self.config.store_url)

    def execute(self, msg_id: int, run: dict[str, Any], definition: dict[str, Any]) -> None:
        spec = definition["spec"]
        attempt = int(run["attempt"])
        invalid = problems("job_definition", spec)  # checked where stored; again where used
        if not invalid:
            try:  # the template, each value put into it, and the prefix kept in the org's tree
                output_prefix = self.output_prefix(run, spec)
            except ChainlakeError as exc:
                invalid = [exc.message]
        if invalid:
            error = {
                "type": "DefinitionError",
                "retryable": False,
                "message": f"job {run['job_name']} {run['job_version']}: {invalid[0]}",
            }
            self.finish(run, attempt, error, None)
            return
        outside = self.inputs_outside_org(run)
        if outside:  # defence in depth: runs.request resolves inputs from the catalog
            error = {
                "type": "InputRejected",
                "retryable": False,
                "message": f"input {outside} is outside the org's storage",
            }
            self.finish(run, attempt, error, None)
            return
        credentials = self.platform_credentials(run, spec)
        if not isinstance(credentials, str):
            secrets = self.org_secrets(run, spec)
            credentials = secrets if isinstance(secrets, str) else credentials | secrets
        if isinstance(credentials, str):
            error = {"type": "CredentialRefused", "retryable": False, "message": credentials}
            self.finish(run, attempt, error, None)
            return
        redactor = Redactor(list(credentials.values()))
        bind(redact=redactor.text)  # nor in the runner's own log lines about this attempt
        timeout = float(spec.get("timeout_seconds", self.config.default_timeout_seconds))
        workdir = self.config.storage_root / "_work" / run["id"] / f"attempt-{attempt}"
        self.config.storage_root.mkdir(parents=True, exist_ok=True)  # the operator's
        if not make_directory(self.config.storage_root, workdir, Owner(mode=0o700)):
            raise WorkspaceError(f"the work directory {workdir} exists already")  # a fresh one
        link = linked_prefix(self.config.storage_root, Path(urlparse(output_prefix).path))
        if link is not None:
            error = {
                "type": "OutputRejected",
                "retryable": False,
                "message": f"output prefix refused: {output_prefix} goes through the symbolic "
                f"link {link} (a run writes only in its own tree)",
            }
            self.finish(run, attempt, error, None)
            return
        run = {**run, "inputs": self.chain_inputs(run, workdir)}
        if in_object_store(self.config.store_url):  # the job reads local copies, never the store
            try:
                staged = stage_inputs(self.store, run["org_id"], run["inputs"], workdir)
            except StagingError as exc:
                error = {"type": "InputRejected", "retryable": False, "message": str(exc)}
                self.finish(run, attempt, error, None)
                return
            run = {**run, "inputs": staged}
        request = self.run_request(run, spec, output_prefix, timeout)
        request["credentials"] = credentials
        found = problems("run_request", request)
        if found:
            self.finish(
                run,
                attempt,
                {
                    "type": "ContractError",
                    "message": f"invalid RunRequest: {found[0]}",
                    "retryable": False,
                },
                None,
            )
            return
        events = EventLog()
        pending: list[dict[str, Any]] = []
        lock = threading.Lock()

        reports = _platform_chain(spec, run)  # a platform job's metric events: counted, not logged

        def emit(line: str) -> None:
            if reports and self.metrics.platform_line(reports, line):  # read before redaction,
                return  # which could mask its name; nothing of it is stored
            event = events.feed(redactor.text(line))  # no secret value is ever stored
            if event is not None:  # stored with the run's trace id (docs/operations.md)
                with lock:
                    pending.append({"trace_id": run["trace_id"], **event})

        heartbeat = Heartbeat(self, run, msg_id, attempt, pending, lock)
        heartbeat.start()
        launcher = self.launchers[spec["launcher"]["kind"]]
        phases.lap("launch")
        try:
            outcome = launcher.launch(
                request,
                spec,
                workdir,
                time.monotonic() + timeout,
                emit,
                self.stopping,
                heartbeat.abandoned,
            )
        finally:
            heartbeat.stop()
            phases.lap("job")
        # whoever holds the run now records its end; renewed once more before anything of this
        # attempt is published: a runner cut off from the database while its job ran must not
        # upload over the outputs of the attempt that took the run over
        if heartbeat.abandoned.is_set() or not heartbeat.renew():
            return
        with lock:  # the last events go in with the outcome, in one transaction
            last_events, pending[:] = list(pending), []
        self.finish(
            run,
            attempt,
            redactor.json(outcome_error(outcome, events, spec, output_prefix, timeout)),
            events,
            output_prefix,
            last_events,
            outcome.usage,
        )

    def inputs_outside_org(self, run: dict[str, Any]) -> str | None:
        """The first file:// input URI that is not inside the run's org's storage tree."""
        org_root = (self.config.storage_root / run["org_id"]).resolve()
        for item in run.get("inputs") or []:
            for uri in item.get("uris", []):
                parsed = urlparse(uri)
                local = Path(unquote(parsed.path))  # as the launchers read it
                if parsed.scheme == "file" and not local.resolve().is_relative_to(org_root):
                    return str(uri)
        return None

    def platform_credentials(
        self, run: dict[str, Any], spec: dict[str, Any]
    ) -> dict[str, str] | str:
        """The platform credentials a definition declares (`secrets: [chain_writer]`,
        `[alert_sender]`), handed only where Postgres allows (core.platform_credential_allowed);
        a refusal otherwise."""
        env: dict[str, str] = {}
        for name in PLATFORM_CREDENTIALS:
            if name not in spec.get("secrets", []):
                continue
            with self.pool.connection() as conn:
                row = conn.execute(
                    "SELECT core.platform_credential_allowed(%s, %s)", (run["org_id"], name)
                ).fetchone()
            if not (row and row[0]):
                return (
                    f"{name} is a platform credential: only the system org's jobs receive it "
                    "(chain data and alert deliveries are the platform's own jobs)"
                )
            values = self._credential_env(name)
            if values is None:
                return f"this runner has no {name} credential (start it with the stack)"
            env |= values
        return env

    def org_secrets(self, run: dict[str, Any], spec: dict[str, Any]) -> dict[str, str] | str:
        """The org's job secrets the definition declares (`secrets: [api_token]`), decrypted
        and handed as CHAINLAKE_SECRET_<NAME>; a refusal when one is not set."""
        names = [n for n in spec.get("secrets", []) if n not in PLATFORM_CREDENTIALS]
        if not names:
            return {}
        if not self.config.secret_key:
            return "this runner has no secrets key (start it with the stack)"
        with self.pool.connection() as conn, runner_transaction(conn, run["org_id"]) as cur:
            rows = cur.execute("SELECT * FROM jobs.secret_values(%s)", (names,)).fetchall()
        found = {r["name"]: bytes(r["value_enc"]) for r in rows}
        missing = [n for n in names if n not in found]
        if missing:
            return (
                f"secret {missing[0]} is not set in this org: "
                f"`chainlake secret set {missing[0]} --org ORG` (a writer sets it)"
            )
        key = self.config.secret_key.encode()
        return {f"CHAINLAKE_SECRET_{n.upper()}": decrypt(key, v) for n, v in found.items()}

    def _credential_env(self, name: str) -> dict[str, str] | None:
        if name == "chain_writer" and self.config.chain_database_url:
            return {
                "CHAINLAKE_CHAIN_DATABASE_URL": self.config.chain_database_url,
                "CHAINLAKE_STORAGE_URL": self.config.store_url,
                # the platform's own jobs write cold chain data to the store with its key
                **{k: v for k, v in os.environ.items() if k in STORE_ENVIRONMENT},
            }
        if name == "alert_sender" and self.config.alerts_database_url and self.config.secret_key:
            return {
                "CHAINLAKE_ALERTS_DATABASE_URL": self.config.alerts_database_url,
                "CHAINLAKE_SECRET_KEY": self.config.secret_key,
            }
        return None

    def chain_inputs(self, run: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
        """Chain inputs (a block range of chain.blocks, .transactions or .logs) as files in the
        run's work directory; other inputs unchanged."""
        inputs = []
        for item in run.get("inputs") or []:
            if "chain_id" not in item:
                inputs.append(item)
                continue
            table = item["dataset"].removeprefix("chain.")
            path = workdir / "inputs" / f"{item['dataset']}.jsonl"
            with self.pool.connection() as conn:
                read = export_range(
                    conn,
                    self.store,
                    int(item["chain_id"]),
                    table,
                    int(item["from_block"]),
                    int(item["to_block"]),
                    path,
                )
            self.record_chain_read(run, item, read)
            inputs.append({**item, "uris": [path.resolve().as_uri()], "rows": read.rows})
        return inputs

    def record_chain_read(
        self, run: dict[str, Any], item: dict[str, Any], read: RangeExport
    ) -> None:
        """Lineage from the chain: the range this attempt read, with its first and last blocks'
        hashes and the chain's newest event then (runs.record_chain_read)."""
        with self.pool.connection() as conn, runner_transaction(conn, run["org_id"]) as cur:
            cur.execute(
                "SELECT runs.record_chain_read(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (run["id"], int(run["attempt"]), item["dataset"], int(item["chain_id"]),
                 int(item["from_block"]), int(item["to_block"]), read.first_hash, read.last_hash,
                 read.events_through),
            )  # fmt: skip

    def output_prefix(self, run: dict[str, Any], spec: dict[str, Any]) -> str:
        return output_prefix(self.config.storage_root, run, spec)

    def run_request(
        self, run: dict[str, Any], spec: dict[str, Any], output_prefix: str, timeout: float
    ) -> dict[str, Any]:
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        return {
            "contract": CONTRACT_VERSION,
            "run_id": run["id"],
            "attempt": int(run["attempt"]),
            "idempotency_key": run["idempotency_key"] or f"run:{run['id']}",
            "job": {
                "name": run["job_name"],
                "version": run["job_version"],
                **({"type": spec["type"]} if "type" in spec else {}),
            },
            "org": {"id": run["org_id"]},
            "trace_id": run["trace_id"],
            "traceparent": traceparent(run["trace_id"]),
            "trigger": run["trigger"] or {"kind": "manual"},
            "inputs": run["inputs"] or [],
            "params": run["params"] or {},
            "config": run["config"] or {},
            "output_prefix": output_prefix,
            "deadline": deadline.isoformat(),
            "credentials": {},
        }

    def flush_logs(
        self, run: dict[str, Any], attempt: int, pending: list[dict[str, Any]], lock: threading.Lock
    ) -> None:
        with lock:
            batch, pending[:] = list(pending), []
        if not batch:
            return
        with self.pool.connection() as conn, runner_transaction(conn, run["org_id"]) as cur:
            cur.execute(
                "SELECT runs.append_log(%s, %s, %s)", (run["id"], attempt, json.dumps(batch))
            )

    def finish(
        self,
        run: dict[str, Any],
        attempt: int,
        error: dict[str, Any] | None,
        events: EventLog | None,
        prefix: str = "",
        last_events: list[dict[str, Any]] | None = None,
        usage: Usage | None = None,
    ) -> None:
        outputs = []
        if error is None and events is not None:  # hash the files before taking a connection
            try:
                outputs = self.stored_outputs(run, events, prefix)
            except StagingError as exc:
                error = {"type": "OutputRejected", "retryable": False, "message": str(exc)}
                events = None
            phases.lap("upload")
        try:
            outcome = self._record_end(run, attempt, error, events, outputs, last_events, usage)
        except psycopg.errors.DiskFull as exc:  # the storage_bytes quota (SQLSTATE 53100)
            refused = {"type": "QuotaExceeded", "message": exc.diag.message_primary or str(exc)}
            if exc.diag.message_hint:
                refused["hint"] = exc.diag.message_hint
            error = {**refused, "retryable": False}
            outcome = self._record_end(run, attempt, error, None, [], last_events, usage)
        self.metrics.run_finished({**run, "attempt": attempt}, outcome)
        phases.lap("commit")
        if error is not None:
            say_failed(attempt, error)

    def stored_outputs(
        self, run: dict[str, Any], events: EventLog, prefix: str
    ) -> list[dict[str, Any]]:
        """The attempt's outputs with their manifests, and the run's `_manifest.json` written:
        in the object store, uploaded from the local prefix and described from what the bucket
        holds (runner/staging.py); on this disk, described where they are."""
        store = self.store  # objects hashed through it, streamed
        if in_object_store(self.config.store_url):
            outputs, prefix = publish_outputs(
                store, self.config.storage_root, events.final_outputs(), prefix
            )
        else:
            outputs = [describe(o, prefix, store) for o in events.final_outputs()]
        write_manifest(run, outputs, prefix, store)
        return outputs

    def _record_end(
        self,
        run: dict[str, Any],
        attempt: int,
        error: dict[str, Any] | None,
        events: EventLog | None,
        outputs: list[dict[str, Any]],
        last_events: list[dict[str, Any]] | None,
        usage: Usage | None = None,
    ) -> str:
        """One transaction: the last log lines and what the attempt used, then the run's
        completion or its failure; the outcome recorded: succeeded, failed (retried), dead, or
        stale (no longer ours)."""
        with self.pool.connection() as conn, runner_transaction(conn, run["org_id"]) as cur:
            if usage is not None:
                figures = (usage.cpu_seconds, usage.peak_memory_bytes, usage.source)
                cur.execute(
                    "SELECT runs.record_usage(%s, %s, %s, %s, %s, %s)",
                    (run["id"], attempt, self.config.name, *figures),
                )
            if last_events:
                cur.execute(
                    "SELECT runs.append_log(%s, %s, %s)",
                    (run["id"], attempt, json.dumps(last_events)),
                )
            if error is None and events is not None:
                metadata = (events.result or {}).get("metadata", {})
                done = cur.execute(
                    "SELECT runs.complete(%s, %s, %s, %s) AS done",
                    (run["id"], attempt, json.dumps(outputs), json.dumps(metadata)),
                ).fetchone()
                return "succeeded" if done and done["done"] else "stale"
            assert error is not None
            retryable = bool(error.pop("retryable", True))
            verdict = cur.execute(
                "SELECT runs.fail(%s, %s, %s, %s) AS verdict",
                (run["id"], attempt, json.dumps(error), retryable),
            ).fetchone()
        found = str(verdict["verdict"]) if verdict else "stale"
        return {"retrying": "failed"}.get(found, found)


def _epoch(value: Any) -> float | None:
    """A run's timestamp (ISO text in its JSON) as seconds since the epoch, or None."""
    try:
        return datetime.fromisoformat(str(value)).timestamp() if value else None
    except ValueError:
        return None


def _platform_chain(spec: dict[str, Any], run: dict[str, Any]) -> str | None:
    """The chain a platform job's metric events are about (its config.chain's name), when the
    job holds the chain_writer credential (handed to the system org's jobs only); else None."""
    if "chain_writer" not in spec.get("secrets", []):
        return None
    chain = (run.get("config") or {}).get("chain") or {}
    return str(chain.get("name") or chain.get("chain_id") or "unknown")


def say_failed(attempt: int, error: dict[str, Any]) -> None:
    """One line in the runner's log for a failed attempt: its error, with the job's traceback
    (when it sent one) as the line's `exc` field."""
    log.warning(
        "attempt %s failed: %s: %s",
        attempt,
        error.get("type", "Error"),
        error.get("message", ""),
        extra={"exc": error["stack"]} if error.get("stack") else None,
    )


def outcome_error(
    outcome: Outcome, events: EventLog, spec: dict[str, Any], output_prefix: str, timeout: float
) -> dict[str, Any] | None:
    """None when the attempt succeeded, else the error to record (with `retryable`)."""
    if outcome.exit_code is None:
        kind = outcome.kind or ("Timeout" if "timeout" in outcome.reason else "LaunchError")
        message = (
            f"killed after {timeout:g}s: past its timeout_seconds"
            if kind == "Timeout"
            else outcome.reason
        )
        final = ("OutOfMemory", "SandboxError", "EgressRefused", "OutputRejected")  # again
        return {
            "type": kind,
            "message": message,
            "stack": outcome.stderr_tail,
            "retryable": kind not in final,
        }
    result = events.result
    if result is not None and result.get("status") == "failed":
        error = dict(result["error"])
        error.setdefault("retryable", True)
        if error.get("type") == "MemoryError":  # Python's allocation failed at the rlimit
            detail = str(error.get("message") or "").strip()
            error["message"] = out_of_memory(spec) + (f": {detail}" if detail else "")
            error["retryable"] = False
        if not error.get("stack") and outcome.stderr_tail:
            error["stack"] = outcome.stderr_tail
        return error
    if outcome.exit_code != 0 or result is None:
        return {
            "type": "ExitCode",
            "message": f"the job exited with code {outcome.exit_code} without a result",
            "stack": outcome.stderr_tail,
            "retryable": True,
        }
    return rejected_outputs(events.final_outputs(), spec, output_prefix)


def rejected_outputs(
    outputs: list[dict[str, Any]], spec: dict[str, Any], output_prefix: str
) -> dict[str, Any] | None:
    """A job may report only datasets it declares, partition keys that are plain names, and
    only URIs of files under its output prefix (for local files: after following symbolic
    links, which a job can plant in its own prefix; never a hard link, a second name of a file
    elsewhere; never a path podman would read as mount options)."""
    declared = set(spec.get("output_datasets", []))
    for output in outputs:
        refusal = _output_refusal(output, declared) or next(
            filter(None, (_uri_refusal(uri, output_prefix) for uri in output.get("uris", []))),
            None,
        )
        if refusal:
            return {"type": "OutputRejected", "retryable": False, "message": refusal}
    return None


def _output_refusal(output: dict[str, Any], declared: set[str]) -> str | None:
    if output["dataset"] not in declared:
        return (
            f"output refused: output for undeclared dataset {output['dataset']!r} "
            f"(the definition's output_datasets: {sorted(declared)})"
        )
    partition = output.get("partition") or ""
    refused = partition and value_problem("partition", partition, f"partition {partition!r}")
    return f"output refused: {refused}" if refused else None


def _uri_refusal(uri: str, output_prefix: str) -> str | None:
    parsed, prefix = urlparse(uri), urlparse(output_prefix)
    inside = (
        parsed.scheme == prefix.scheme
        and parsed.netloc == prefix.netloc
        and os.path.normpath(parsed.path).startswith(prefix.path.rstrip("/") + "/")
    )
    if not inside:
        return (
            f"output refused: {uri} is outside the run's prefix {output_prefix} (a job writes "
            "and reports only under its prefix)"
        )
    if parsed.scheme != "file":
        return None
    path = Path(unquote(parsed.path))
    if not path.resolve().is_relative_to(Path(unquote(prefix.path)).resolve()):
        return (
            f"output refused: {uri} leads outside the run's prefix {output_prefix} (through a "
            "symbolic link or '..')"
        )
    if not path.is_file():
        return f"output {uri} does not exist (the job reported a file it did not write)"
    if path.stat().st_nlink > 1:
        return (
            f"output refused: {uri} is a hard link (st_nlink {path.stat().st_nlink}), a second "
            "name of a file that may be anyone's"
        )
    if UNMOUNTABLE.search(str(path)):
        return (
            f"output refused: {uri}: a file path may not hold ':' or ',' or control characters "
            "(the runs that read it mount its folder)"
        )
    return None


class Heartbeat:
    """Extends the task's lease and flushes log events while the job runs."""

    def __init__(
        self,
        runner: Runner,
        run: dict[str, Any],
        msg_id: int,
        attempt: int,
        pending: list[dict[str, Any]],
        lock: threading.Lock,
    ) -> None:
        self.runner, self.run, self.msg_id, self.attempt = runner, run, msg_id, attempt
        self.pending, self.lock = pending, lock
        self.stopped = threading.Event()
        # set when a heartbeat finds the attempt no longer this runner's: the run was cancelled,
        # or its lease ran out and another runner took it; the launcher then stops the job
        self.abandoned = threading.Event()
        # in a copy of the attempt's log context: its lines name the run too
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self.loop,))
        self.thread.daemon = True

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def loop(self) -> None:
        lease = self.runner.config.lease_seconds
        last_extend = time.monotonic()
        while not self.stopped.wait(0.2):
            try:
                self.runner.flush_logs(self.run, self.attempt, self.pending, self.lock)
                if time.monotonic() - last_extend >= lease / 3:
                    alive = self.renew()
                    last_extend = time.monotonic()
                    if not alive:
                        return
            except psycopg.Error:
                log.exception("heartbeat of run %s failed", self.run["id"])

    def renew(self) -> bool:
        """Extend the lease; False (and `abandoned` set) when the attempt is no longer ours."""
        with (
            self.runner.pool.connection() as conn,
            runner_transaction(conn, self.run["org_id"]) as cur,
        ):
            row = cur.execute(
                "SELECT runs.heartbeat(%s, %s, %s) AS alive",
                (self.run["id"], self.attempt, self.runner.config.lease_seconds),
            ).fetchone()
        if row is not None and not row["alive"]:
            log.info("run %s attempt %s: abandoned", self.run["id"], self.attempt)
            self.abandoned.set()
            return False
        return True


def new_runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


__all__ = ["Runner", "RunnerConfig", "dict_row"]
