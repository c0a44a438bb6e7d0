"""The runner's metrics and health server (chainlake.observe.server): its settings, and where
it says its address (a file the stack reads for `chainlake status`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from chainlake.observe.health import Readiness, readiness
from chainlake.observe.metrics import RunnerMetrics
from chainlake.observe.server import MetricsServer
from chainlake.storage import ObjectStore, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("CHAINLAKE_METRICS_PORT") or 0),
        help="the port of /metrics and /health/* (env CHAINLAKE_METRICS_PORT; 0: a free one)",
    )
    parser.add_argument(
        "--metrics-host",
        default=os.environ.get("CHAINLAKE_METRICS_HOST", "127.0.0.1"),
        help="the address /metrics listens on",
    )
    parser.add_argument(
        "--metrics-file", type=Path, default=None, help="where to write the metrics address"
    )


def serve(
    args: argparse.Namespace, metrics: RunnerMetrics, database_url: str, store_url: str
) -> MetricsServer:
    """Bind (MetricsPortInUse when the port is taken), start, and tell where."""
    stores: list[ObjectStore] = []

    def ready() -> Readiness:
        if not stores:
            stores.append(open_store(store_url))
        return readiness(database_url, stores[0])

    server = MetricsServer(
        metrics.registry,
        ready,
        args.metrics_host,
        args.metrics_port,
        "--metrics-port or CHAINLAKE_METRICS_PORT",
    ).start()
    if args.metrics_file is not None:
        args.metrics_file.parent.mkdir(parents=True, exist_ok=True)
        args.metrics_file.write_text(f"{server.address}\n")
    return server
