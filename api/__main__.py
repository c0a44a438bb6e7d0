"""`python -m api` (what `chainlake up` starts): serve the API on 127.0.0.1 (or --host)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn

from api.access import AccessLog
from api.app import create_app
from chainlake import tracing
from chainlake.logs import configure
from chainlake.secrets import load_key
from chainlake.storage import open_store, store_problem

# How long a thread may hold the GIL while another waits (CPython's default: 5 ms). Query
# results are encoded in worker threads, in Python for JSON: each stream holds the GIL for
# whole switch intervals, and every other request of the process (a whoami, an insert) waits
# for it at each of its many handoffs. A tenth of the default cut acme's whoami behind six
# streams of another org from ~590 to ~165 ms (p50) at the same streamed throughput
# (bench/neighbour.py, docs/decisions.md).
SWITCH_INTERVAL_S = 0.0005


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    parser = argparse.ArgumentParser(prog="chainlake api")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--home", type=Path, required=True, help="where secret.key lives")
    parser.add_argument(
        "--storage-url", default=os.environ.get("CHAINLAKE_STORAGE_URL"), help="cold data"
    )
    args = parser.parse_args()
    configure("api")
    storage_url = args.storage_url or (args.home / "data").resolve().as_uri()
    problem = store_problem(storage_url)
    if problem:
        print(f"chainlake api: {problem}", file=sys.stderr)
        sys.exit(2)
    store = open_store(storage_url)
    app = create_app(args.database_url, load_key(args.home), args.home, store)
    configure("api")  # again: Litestar's default logging setup replaced the root handler
    tracing.setup("api")  # spans when CHAINLAKE_OTLP_ENDPOINT is set (docs/operations.md)
    # uvicorn's own loggers go through ours (log_config=None); our middleware is the access log
    uvicorn.run(
        AccessLog(app),
        host=args.host,
        port=args.port,
        log_level="warning",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
