"""`python -m runner` (what `chainlake runner` starts): serve run tasks until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from chainlake import tracing
from chainlake.logs import configure
from chainlake.observe.metrics import RunnerMetrics
from chainlake.observe.server import MetricsPortInUse
from chainlake.storage import store_problem
from runner import observe
from runner.docker_engine import EngineUnreachable
from runner.worker import Runner, RunnerConfig

CONNECT_TIMEOUT_S = 10


def unreachable(database_url: str) -> str | None:
    """Why the runner cannot reach its database (one line naming the address, never the
    password), or None when it can."""
    try:
        with psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_S):
            return None
    except (psycopg.Error, ValueError) as exc:
        try:
            found = conninfo_to_dict(database_url)
        except psycopg.ProgrammingError:
            return "chainlake runner: --database-url is not a PostgreSQL URL"
        where = f"{found.get('host') or 'the local socket'}:{found.get('port') or 5432}"
        reason = " ".join(str(exc).split()).split(": ", 1)[-1]
        return (
            f"chainlake runner: cannot reach the database at {where} "
            f"(database {found.get('dbname')}, user {found.get('user')}): {reason}; "
            "check --database-url and that this host reaches it"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="chainlake runner")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--storage-root", required=True, type=Path)
    parser.add_argument("--concurrency", type=int, default=4, help="tenant slots")
    parser.add_argument(
        "--platform-slots", type=int, default=4, help="slots of the system org's jobs only"
    )
    parser.add_argument(
        "--slots-per-org",
        type=int,
        default=None,
        help="tenant slots one org may hold at once (default: all but one)",
    )
    parser.add_argument("--lease-seconds", type=int, default=30)
    parser.add_argument("--name", default=None, help="recorded with each attempt (host:pid)")
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument(
        "--storage-url", default=os.environ.get("CHAINLAKE_STORAGE_URL"), help="cold chain data"
    )
    parser.add_argument(
        "--container-engine",
        default=os.environ.get("CHAINLAKE_CONTAINER_ENGINE", "podman"),
        help="where container jobs run: podman (local, the default) or a Docker API address "
        "(tcp://HOST:PORT, ssh://USER@HOST, unix:///PATH)",
    )
    observe.add_arguments(parser)
    args = parser.parse_args()
    configure("runner")  # JSON lines on stderr; botocore and the like kept to warnings
    tracing.setup("runner")  # spans when CHAINLAKE_OTLP_ENDPOINT is set (docs/operations.md)
    metrics = RunnerMetrics()
    storage_url = args.storage_url or args.storage_root.resolve().as_uri()
    try:  # first: a port in use is one line at start, never a failure later
        served = observe.serve(args, metrics, args.database_url, storage_url)
    except MetricsPortInUse as exc:
        print(f"chainlake runner: {exc}", file=sys.stderr)
        sys.exit(2)
    problem = unreachable(args.database_url)
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(2)
    config = RunnerConfig(
        args.database_url,
        args.storage_root,
        args.concurrency,
        args.lease_seconds,
        # the chain-writing credential comes by environment, never on the command line
        chain_database_url=os.environ.get("CHAINLAKE_CHAIN_DATABASE_URL"),
        alerts_database_url=os.environ.get("CHAINLAKE_ALERTS_DATABASE_URL"),
        secret_key=os.environ.get("CHAINLAKE_SECRET_KEY"),
        storage_url=args.storage_url,
        platform_slots=args.platform_slots,
        slots_per_org=args.slots_per_org,
        container_engine=args.container_engine,
    )
    if args.name:
        config.name = args.name
    problem = store_problem(config.store_url)
    if problem:
        print(f"chainlake runner: {problem}", file=sys.stderr)
        sys.exit(2)
    try:
        runner = Runner(config, metrics)
    except EngineUnreachable as exc:
        print(f"chainlake runner: {exc}", file=sys.stderr)
        sys.exit(2)
    logging.getLogger("chainlake.runner").info(
        "metrics and health on http://%s (/metrics, /health/ready)", served.address
    )
    runner.run_forever(args.max_seconds)


if __name__ == "__main__":
    main()
