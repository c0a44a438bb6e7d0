"""Backfill of one chain (`config.chain`): historical blocks `params.from_block` ..
`params.to_block` to cold Parquet chunks, resumable (docs/chain.md). A manual job of the system
org; `chainlake chain backfill` does the same by hand. Definition: job.yaml beside it (not
applied by `chainlake up`: apply a copy with your chain's settings).

It declares `secrets: [chain_writer]` and imports the SDK and the engine it drives (see
docs/decisions.md).
"""

from __future__ import annotations

import psycopg

from chainlake.chain.archive import backfill
from chainlake.chain.ingest import ChainConfig
from chainlake.sdk import Context, PermanentError, credential, job
from chainlake.storage import open_store


@job
def backfill_job(ctx: Context) -> None:
    try:  # bad settings fail the run for good: a retry would meet them again
        config = ChainConfig.from_dict(dict(ctx.config.get("chain") or {}))
        first, last = int(ctx.params["from_block"]), int(ctx.params["to_block"])
    except Exception as exc:
        raise PermanentError(f"config.chain, params.from_block, params.to_block: {exc}") from exc
    store = open_store(credential("CHAINLAKE_STORAGE_URL", "chain_writer"))
    url = credential("CHAINLAKE_CHAIN_DATABASE_URL", "chain_writer")
    with psycopg.connect(url, autocommit=True) as conn:
        done = backfill(conn, store, config.rpc(), config.chain_id, first, last, log=ctx.log)
    ctx.metric("chunks", len(done.written))
    ctx.metric("blocks", done.blocks)


if __name__ == "__main__":
    backfill_job.main()
