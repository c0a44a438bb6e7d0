"""The local stack: what `chainlake up`, `down` and `status` start, stop and report.

With no configuration the stack is embedded: a private Postgres cluster under `.chainlake/pg`.
With CHAINLAKE_DATABASE_URL set, that server is used instead and nothing is started.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chainlake import egress
from chainlake.config import DEFAULT_DATABASE, Settings
from chainlake.db import ALERTS_ROLE, INGEST_ROLE, PLATFORM_ROLES
from chainlake.domain import orgs
from chainlake.errors import StackError
from chainlake.local import demo
from chainlake.local.localpg import DEV_SETTINGS, LocalPostgres, free_port, port_is_free
from chainlake.local.processes import BackgroundProcess
from chainlake.local.s3 import EmbeddedS3
from chainlake.migrate import MigrationReport, migrate
from chainlake.secrets import load_key
from chainlake.storage import ObjectStore, open_store

# How long `up` waits for a runner to say where its /metrics is (it binds before anything else).
RUNNER_METRICS_WAIT_S = 15.0


@dataclass
class Stack:
    settings: Settings

    @classmethod
    def load(cls) -> Stack:
        return cls(Settings.load())

    @property
    def embedded(self) -> bool:
        return self.settings.external_database_url is None

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(self.settings.postgres_dir, DEV_SETTINGS)

    def admin_url(self) -> str:
        """The operator's connection: the configured server, or the embedded cluster's socket."""
        if self.settings.external_database_url:
            return self.settings.external_database_url
        pg = self.postgres
        if not pg.is_running():
            raise StackError(
                "the embedded Postgres is not running", "start the stack with `make up`"
            )
        return pg.socket_url(DEFAULT_DATABASE)

    def platform_url(self, role: str) -> str:
        """A connection string for a platform login role (the runners', the API's)."""
        params = {k: v for k, v in conninfo_to_dict(self.admin_url()).items() if v is not None}
        params["user"] = role
        params.pop("password", None)
        if not self.embedded:  # the embedded socket trusts its owner; elsewhere, a password
            params["password"] = self.platform_passwords()[role]
        return make_conninfo("", **params)

    @property
    def storage_root(self) -> Path:
        """Where runs write their outputs: the embedded default is a local directory."""
        return self.settings.home / "data"

    @property
    def storage_url(self) -> str:
        """Where runs' files and cold chain data live: $CHAINLAKE_STORAGE_URL (file:///dir, or
        s3://bucket/prefix reached with the AWS_* environment), else the embedded object store."""
        return os.environ.get("CHAINLAKE_STORAGE_URL") or self.object_store.url

    @property
    def embedded_store(self) -> bool:
        """Whether the stack runs its own object store (no $CHAINLAKE_STORAGE_URL)."""
        return not os.environ.get("CHAINLAKE_STORAGE_URL")

    @property
    def object_store(self) -> EmbeddedS3:
        return EmbeddedS3(self.settings.home)

    def store_env(self) -> dict[str, str]:
        """How the stack's processes reach the embedded object store (nothing otherwise)."""
        return self.object_store.env() if self.embedded_store else {}

    def open_store(self) -> ObjectStore:
        """The stack's object store, as the operator's commands reach it."""
        return open_store(
            self.storage_url, **(self.object_store.settings() if self.embedded_store else {})
        )

    # -- up / down ----------------------------------------------------------------------------
    def up(self, runner: bool = True, chain: bool = True) -> MigrationReport:
        """Start what is not running and migrate; if any step fails, stop what this call
        started (nothing half-started stays behind) and raise."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        running = self.running()
        try:
            if self.embedded:
                pg = self.postgres
                pg.start()
                _ensure_database(pg.socket_url(), DEFAULT_DATABASE)
            if self.embedded_store:
                self.object_store.start()
            url = self.admin_url()
            report = migrate(url)
            self._set_platform_passwords(url)
            target = self.chain_target() if chain else None
            self.register_egress(url, target)
            if target is not None:
                with psycopg.connect(url, autocommit=True) as conn:
                    demo.install(conn, target)
            if runner:
                self.start_runner()
            self.start_api()
            self.register_egress(url, target)  # the API's address, now that it has one
        except BaseException:
            self.stop(exclude=running)
            raise
        return report

    def running(self) -> set[str]:
        """The components running now."""
        processes = (self.api, self.runner, self.devchain, self.object_store.process)
        found = {p.name for p in processes if p.pid() is not None}
        if self.embedded and self.postgres.initialized and self.postgres.is_running():
            found.add("postgres")
        return found

    def register_egress(self, url: str, target: demo.ChainTarget | None) -> None:
        """Tell Postgres the stack's own services (never reached on a tenant's behalf: its
        Postgres, API, object store and chain node) and what the operator allows besides
        public addresses: $CHAINLAKE_EGRESS_ALLOW, and the devchain's price feed."""
        own = [
            self._postgres_address(),
            *(egress.address_of(u) for u in [self.api_url() or "", *self._object_store()]),
            *(egress.address_of(u) for u in (target.rpc_urls if target else [])),
        ]
        allowed = egress.configured_allow_list()
        if target is not None and target.price_feed:
            allowed.append(str(egress.address_of(target.price_feed)))
        with psycopg.connect(url, autocommit=True) as conn:
            egress.register(conn, "platform", "chainlake up", sorted({a for a in own if a}))
            egress.register(conn, "allowed", "chainlake up", sorted(set(allowed)))

    def _postgres_address(self) -> str | None:
        if self.settings.external_database_url:
            return egress.address_of(self.settings.external_database_url)
        return f"127.0.0.1:{self.postgres.port}"

    def _object_store(self) -> list[str]:
        """The object store's endpoint, when it is reached over the network."""
        endpoint = self.store_env().get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        return [endpoint] if endpoint and self.storage_url.startswith("s3://") else []

    # -- the chain: a configured RPC endpoint, or the devchain -------------------------------
    @property
    def devchain(self) -> BackgroundProcess:
        return BackgroundProcess("devchain", self.settings.home / "run")

    @property
    def devchain_info_file(self) -> Path:
        return self.settings.home / "run" / "devchain.json"

    def devchain_info(self) -> dict[str, Any] | None:
        if self.devchain.pid() is None or not self.devchain_info_file.exists():
            return None
        return dict(json.loads(self.devchain_info_file.read_text()))

    def chain_target(self) -> demo.ChainTarget:
        """$CHAINLAKE_RPC_URL (comma-separated endpoints) and $CHAINLAKE_CHAIN_ID, else the
        devchain, started here."""
        configured = os.environ.get("CHAINLAKE_RPC_URL")
        if configured:
            return demo.ChainTarget(
                chain_id=int(os.environ.get("CHAINLAKE_CHAIN_ID", "1")),
                name=os.environ.get("CHAINLAKE_CHAIN_NAME", "mainnet"),
                rpc_urls=[u.strip() for u in configured.split(",") if u.strip()],
            )
        info = self.devchain_info() or self.start_devchain()
        return demo.ChainTarget(
            chain_id=int(info["chain_id"]),
            name="devchain",
            rpc_urls=[info["url"]],
            token=info["token"],
            price_feed=info["price_feed"],
            chunk_size=100,
        )

    def start_devchain(self, timeout: float = 60.0) -> dict[str, Any]:
        self.devchain_info_file.unlink(missing_ok=True)
        (self.settings.home / "devchain").mkdir(parents=True, exist_ok=True)
        self.devchain_info_file.parent.mkdir(parents=True, exist_ok=True)
        port_file = self.settings.home / "devchain" / "port"
        port = int(os.environ.get("CHAINLAKE_DEVCHAIN_PORT", "0"))
        if port and not port_is_free(port):
            raise StackError(
                f"port {port} (CHAINLAKE_DEVCHAIN_PORT) is in use",
                f"stop what listens on 127.0.0.1:{port}, or unset CHAINLAKE_DEVCHAIN_PORT",
            )
        if not port and port_file.exists() and port_is_free(int(port_file.read_text())):
            port = int(port_file.read_text())  # the same endpoint as last time
        port = port or free_port()
        port_file.write_text(f"{port}\n")
        self.devchain.start(
            [
                sys.executable,
                "-m",
                "chainlake.local.devchain",
                "--port",
                str(port),
                "--tx-rate",
                os.environ.get("CHAINLAKE_DEVCHAIN_TX_RATE", "20"),
                "--info",
                str(self.devchain_info_file),
                "--state",
                str(self.settings.home / "devchain" / "state.json"),
            ]
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.devchain_info()
            if info is not None:
                return info
            if self.devchain.pid() is None:
                break
            time.sleep(0.1)
        raise StackError(
            "the devchain did not start", f"see {self.devchain.log_file} (is anvil installed?)"
        )

    def runner_env(self) -> dict[str, str]:
        """A runner's environment: where runs' files live and how to reach that store."""
        return {**os.environ, "CHAINLAKE_STORAGE_URL": self.storage_url, **self.store_env()}

    def start_runner(self) -> None:
        env = self.runner_env()
        env["CHAINLAKE_CHAIN_DATABASE_URL"] = self.platform_url(INGEST_ROLE)
        env["CHAINLAKE_ALERTS_DATABASE_URL"] = self.platform_url(ALERTS_ROLE)
        env["CHAINLAKE_SECRET_KEY"] = load_key(self.settings.home).decode()
        self.runner_metrics_file.unlink(missing_ok=True)  # never a stale address
        self.runner.start(self.runner_argv(), env=env)
        deadline = time.monotonic() + RUNNER_METRICS_WAIT_S  # its first act: `status` names it
        while not self.runner_metrics_file.exists() and time.monotonic() < deadline:
            if self.runner.pid() is None:
                break
            time.sleep(0.05)

    @property
    def api(self) -> BackgroundProcess:
        return BackgroundProcess("api", self.settings.home / "run")

    @property
    def api_port_file(self) -> Path:
        return self.settings.home / "run" / "api.port"

    def api_url(self) -> str | None:
        if self.api.pid() is None or not self.api_port_file.exists():
            return None
        return f"http://127.0.0.1:{self.api_port_file.read_text().strip()}"

    def start_api(self) -> None:
        if self.api.pid() is not None:
            return
        port = free_port()
        self.api_port_file.parent.mkdir(parents=True, exist_ok=True)
        self.api_port_file.write_text(f"{port}\n")
        self.api.start(
            [
                sys.executable,
                "-m",
                "api",
                "--database-url",
                self.platform_url("chainlake_api"),
                "--port",
                str(port),
                "--home",
                str(self.settings.home),
                "--storage-url",
                self.storage_url,
            ],
            env={**os.environ, **self.store_env()},
        )

    @property
    def runner(self) -> BackgroundProcess:
        return BackgroundProcess("runner", self.settings.home / "run")

    def runner_argv(self, concurrency: int = 4, lease_seconds: int = 30) -> list[str]:
        """`python -m runner` against this stack (`chainlake runner` runs it in the foreground)."""
        return [
            sys.executable,
            "-m",
            "runner",
            "--database-url",
            self.platform_url("chainlake_runner"),
            "--storage-root",
            str(self.storage_root),
            "--concurrency",
            str(concurrency),
            "--lease-seconds",
            str(lease_seconds),
            "--metrics-file",
            str(self.runner_metrics_file),
        ]

    @property
    def runner_metrics_file(self) -> Path:
        """Where the runner writes the address of its /metrics (a free port unless
        CHAINLAKE_METRICS_PORT says which)."""
        return self.settings.home / "run" / "runner.metrics"

    def runner_metrics_url(self) -> str | None:
        if self.runner.pid() is None or not self.runner_metrics_file.exists():
            return None
        return f"http://{self.runner_metrics_file.read_text().strip()}/metrics"

    def down(self) -> list[str]:
        """Stop every process the stack started; return the names of what was stopped."""
        return self.stop()

    def stop(self, exclude: set[str] | None = None) -> list[str]:
        """Stop the stack's processes but those in `exclude`; the names of what was stopped."""
        keep = exclude or set()
        stopped = []
        processes = (
            (self.api, 10.0),
            (self.runner, 30.0),  # its last uploads go to the object store, stopped after it
            (self.devchain, 10.0),
            (self.object_store.process, 10.0),
        )
        for process, grace in processes:
            if process.name not in keep and process.stop(grace_seconds=grace):
                stopped.append(process.name)
        if "postgres" not in keep and self.embedded and self.postgres.is_running():
            self.postgres.stop()
            stopped.append("postgres")
        return stopped

    def platform_passwords(self) -> dict[str, str]:
        """Passwords of the platform login roles, generated once and kept in secrets.json."""
        path = self.settings.secrets_file
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        changed = False
        for role in PLATFORM_ROLES:
            if role not in stored:
                stored[role] = secrets.token_urlsafe(24)
                changed = True
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(stored, indent=2))
        return stored

    def _set_platform_passwords(self, url: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for role, password in self.platform_passwords().items():
                orgs.set_login_password(conn, role=role, password=password)

    # -- status -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "home": str(self.settings.home),
            "components": [
                self._postgres_status(),
                self._runner_status(),
                self._api_status(),
                self._devchain_status(),
                self._store_status(),
            ],
        }

    def _api_status(self) -> dict[str, Any]:
        url = self.api_url()
        return {
            "name": "api",
            "state": "up" if url else "down",
            "address": url.removeprefix("http://") if url else None,
            "url": url,
            "metrics": f"{url}/metrics" if url else None,
            "pid": self.api.pid(),
            "log": str(self.api.log_file),
        }

    def _devchain_status(self) -> dict[str, Any]:
        info = self.devchain_info()
        return {
            "name": "devchain",
            "state": "up"
            if info
            else ("external" if os.environ.get("CHAINLAKE_RPC_URL") else "down"),
            "address": info["url"].removeprefix("http://") if info else None,
            "url": info["url"] if info else os.environ.get("CHAINLAKE_RPC_URL"),
            "chain_id": info["chain_id"] if info else None,
            "token": info["token"] if info else None,
            "price_feed": info["price_feed"] if info else None,
            "traffic": info.get("traffic") if info else None,  # mined rate, resyncs
            "pid": self.devchain.pid(),
            "log": str(self.devchain.log_file),
        }

    def _store_status(self) -> dict[str, Any]:
        if self.embedded_store:
            return self.object_store.status()
        return {"name": "s3", "state": "external", "address": None, "url": self.storage_url}

    def _runner_status(self) -> dict[str, Any]:
        pid = self.runner.pid()
        return {
            "name": "runner",
            "state": "up" if pid else "down",
            "address": None,
            "metrics": self.runner_metrics_url(),
            "pid": pid,
            "log": str(self.runner.log_file),
        }

    def _postgres_status(self) -> dict[str, Any]:
        if not self.embedded:
            url = self.settings.external_database_url or ""
            parts = urlsplit(url)
            state = "up" if _reachable(url) else "unreachable"
            return {
                "name": "postgres",
                "mode": "external",
                "state": state,
                "address": f"{parts.hostname}:{parts.port or 5432}",
                "database": parts.path.lstrip("/"),
            }
        pg = self.postgres
        if not pg.initialized:
            return {
                "name": "postgres",
                "mode": "embedded",
                "state": "not initialized",
                "address": None,
            }
        problem = pg.version_mismatch()
        if problem:
            return {
                "name": "postgres",
                "mode": "embedded",
                "state": "cannot start",
                "address": None,
                "data": str(pg.data_dir),
                "error": problem.message,
            }
        running = pg.is_running()
        return {
            "name": "postgres",
            "mode": "embedded",
            "state": "up" if running else "down",
            "address": f"127.0.0.1:{pg.port}",
            "socket": str(pg.socket_dir),
            "data": str(pg.data_dir),  # under a state directory when the checkout is private
            "database": DEFAULT_DATABASE,
            "pid": pg.postmaster_pid() if running else None,
            "url": pg.socket_url(DEFAULT_DATABASE),
            "log": str(pg.log_file),
        }


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _ensure_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
