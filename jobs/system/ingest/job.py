"""Live ingest of one chain (`config.chain`): an always_on job of the system org, run by the
runner like any job (the job contract on stdin/stdout). Definition: job.yaml beside it.

It declares `secrets: [chain_writer]`: the runner hands it the chain-writing role's URL as
CHAINLAKE_CHAIN_DATABASE_URL (refused to any other org). Like every system job it imports the
SDK and the platform's engine it drives (chainlake.chain.ingest), nothing else: see "The
platform's own jobs" in docs/decisions.md.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.sdk import Context, PermanentError, credential, job


def chain_config(ctx: Context) -> ChainConfig:
    raw: dict[str, Any] = dict(ctx.config.get("chain") or {})
    try:
        return ChainConfig.from_dict(raw)
    except Exception as exc:
        raise PermanentError(f"config.chain: {exc}") from exc


@job
def ingest(ctx: Context) -> None:
    config = chain_config(ctx)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    url = credential("CHAINLAKE_CHAIN_DATABASE_URL", "chain_writer")
    live = LiveIngest(config, url, log=ctx.log, metric=ctx.metric)
    ctx.log(f"chain {config.chain_id} ({config.name}): following {live.rpc.preferred}")
    try:
        live.run(stop, max_seconds=ctx.config.get("max_seconds"))
    finally:
        live.close()
    ctx.metric("blocks", live.stats.blocks)
    ctx.metric("reorgs", live.stats.reorgs)


if __name__ == "__main__":
    ingest.main()
