"""The platform's chain jobs, run by the runner like any job (the job contract on stdin/stdout):

    python -m chainlake.chain.jobs ingest    always_on: live ingest of `config.chain`
    python -m chainlake.chain.jobs archive   cron: the finality archiver for `config.chain_id`
    python -m chainlake.chain.jobs backfill  manual: `params.from_block`..`params.to_block`

They run in the system org and declare `secrets: [chain_writer]`: the runner hands them the
chain-writing role's URL and the object store as CHAINLAKE_CHAIN_DATABASE_URL and
CHAINLAKE_STORAGE_URL (refused to any other org). Definitions: jobs/chain/*.yaml.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import psycopg

from chainlake.chain.archive import archive, backfill
from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.sdk import Context, PermanentError, job
from chainlake.storage import open_store


def _credential(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise PermanentError(
            f"{name} is not set: declare `secrets: [chain_writer]` and run in the system org"
        )
    return value


def _chain_config(ctx: Context) -> ChainConfig:
    raw: dict[str, Any] = dict(ctx.config.get("chain") or {})
    try:
        return ChainConfig.from_dict(raw)
    except Exception as exc:
        raise PermanentError(f"config.chain: {exc}") from exc


@job
def ingest(ctx: Context) -> None:
    config = _chain_config(ctx)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    live = LiveIngest(config, _credential("CHAINLAKE_CHAIN_DATABASE_URL"), log=ctx.log)
    ctx.log(f"chain {config.chain_id} ({config.name}): following {live.rpc.preferred}")
    try:
        live.run(stop, max_seconds=ctx.config.get("max_seconds"))
    finally:
        live.close()
    ctx.metric("blocks", live.stats.blocks)
    ctx.metric("reorgs", live.stats.reorgs)


@job
def archive_job(ctx: Context) -> None:
    chain_id = int(ctx.config.get("chain_id", 0))
    store = open_store(_credential("CHAINLAKE_STORAGE_URL"))
    with psycopg.connect(_credential("CHAINLAKE_CHAIN_DATABASE_URL"), autocommit=True) as conn:
        done = archive(conn, store, chain_id, log=ctx.log)
    ctx.metric("chunks", len(done.written))
    ctx.metric("blocks", done.blocks)


@job
def backfill_job(ctx: Context) -> None:
    config = _chain_config(ctx)
    first, last = int(ctx.params["from_block"]), int(ctx.params["to_block"])
    store = open_store(_credential("CHAINLAKE_STORAGE_URL"))
    with psycopg.connect(_credential("CHAINLAKE_CHAIN_DATABASE_URL"), autocommit=True) as conn:
        done = backfill(conn, store, config.rpc(), config.chain_id, first, last, log=ctx.log)
    ctx.metric("chunks", len(done.written))
    ctx.metric("blocks", done.blocks)


ENTRY_POINTS = {"ingest": ingest, "archive": archive_job, "backfill": backfill_job}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ENTRY_POINTS:
        sys.exit(f"usage: python -m chainlake.chain.jobs {{{'|'.join(ENTRY_POINTS)}}}")
    ENTRY_POINTS[sys.argv[1]].main()
