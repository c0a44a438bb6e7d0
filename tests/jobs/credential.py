"""Test job: reports whether the runner handed it the chain_writer credential."""

from __future__ import annotations

import os

from chainlake.sdk import Context, job


@job
def credential(ctx: Context) -> None:
    ctx.metadata["has_chain_writer"] = bool(os.environ.get("CHAINLAKE_CHAIN_DATABASE_URL"))


if __name__ == "__main__":
    credential.main()
