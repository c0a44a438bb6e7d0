"""`python -m api` (what `chainlake up` starts): serve the API on 127.0.0.1."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from api.app import create_app
from chainlake.secrets import load_key


def main() -> None:
    parser = argparse.ArgumentParser(prog="chainlake api")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--home", type=Path, required=True, help="where secret.key lives")
    args = parser.parse_args()
    app = create_app(args.database_url, load_key(args.home))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
