"""The integrity check of one chain (`config.chain_id`): a cron job of the system org. Every run
checks the stored chain as `chainlake chain check` does (hot gaps and broken hash links, the
hot/cold seam, the chunks and their files) and records what it found with `chain.report_check`;
the system alert rule chain-check fires on a problem and clears when a later check is clean
(docs/chain.md). The run succeeds when the check ran, whatever it found. Definition: job.yaml.

It declares `secrets: [chain_writer]`, like the archiver: the chain role's URL and the object
store come as CHAINLAKE_CHAIN_DATABASE_URL and CHAINLAKE_STORAGE_URL.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from chainlake.chain.integrity import check
from chainlake.sdk import Context, credential, job
from chainlake.storage import open_store

REPORTED = 20  # problems recorded and logged (all are counted)


@job
def chain_check_job(ctx: Context) -> None:
    chain_id = int(ctx.config.get("chain_id", 0))
    store = open_store(credential("CHAINLAKE_STORAGE_URL", "chain_writer"))
    url = credential("CHAINLAKE_CHAIN_DATABASE_URL", "chain_writer")
    with psycopg.connect(url, autocommit=True) as conn:
        problems = check(conn, store, chain_id)
        first = [p.as_dict() for p in problems[:REPORTED]]
        conn.execute(
            "SELECT chain.report_check(%s, %s, %s)", (chain_id, len(problems), Jsonb(first))
        )
    for p in problems[:REPORTED]:
        ctx.log(f"{p.kind} at {p.from_block}..{p.to_block}: {p.detail}", level="warning")
    ctx.metric("problems", len(problems))


if __name__ == "__main__":
    chain_check_job.main()
