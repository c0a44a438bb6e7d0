"""`python -m runner` (what `chainlake runner` starts): serve run tasks until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from runner.docker_engine import EngineUnreachable
from runner.worker import Runner, RunnerConfig


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
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format='{"level": "%(levelname)s", "msg": "%(message)s"}'
    )
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
    try:
        runner = Runner(config)
    except EngineUnreachable as exc:
        sys.exit(f"chainlake runner: {exc}")
    runner.run_forever(args.max_seconds)


if __name__ == "__main__":
    main()
