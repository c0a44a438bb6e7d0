"""The finality archiver of one chain (`config.chain_id`): a cron job of the system org. Every
run moves the finalized hot ranges to Parquet chunks in object storage, advances the watermark
and prunes the hot rows under it (docs/chain.md). Definition: job.yaml beside it.

It declares `secrets: [chain_writer]`: the runner hands it the chain-writing role's URL and the
object store as CHAINLAKE_CHAIN_DATABASE_URL and CHAINLAKE_STORAGE_URL (refused to any other
org). It imports the SDK and the engine it drives (see docs/decisions.md).
"""

from __future__ import annotations

import psycopg

from chainlake.chain.archive import archive
from chainlake.sdk import Context, credential, job
from chainlake.storage import open_store


@job
def archive_job(ctx: Context) -> None:
    chain_id = int(ctx.config.get("chain_id", 0))
    store = open_store(credential("CHAINLAKE_STORAGE_URL", "chain_writer"))
    url = credential("CHAINLAKE_CHAIN_DATABASE_URL", "chain_writer")
    with psycopg.connect(url, autocommit=True) as conn:
        done = archive(conn, store, chain_id, log=ctx.log)
    ctx.metric("chunks", len(done.written))
    ctx.metric("blocks", done.blocks)


if __name__ == "__main__":
    archive_job.main()
