"""/v1/chains: each chain's status and an integrity check, read-only for every signed-in user
(chainlake.domain.chain, as the caller)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get
from litestar.params import PathParameter

from api.problems import PROBLEMS
from api.session import Req, perform
from chainlake.domain import chain


@get("/v1/chains", operation_id="listChains", responses=PROBLEMS, sync_to_thread=True)
def list_chains(request: Req) -> dict[str, Any]:
    """Every chain: hot head, finalized block, archive watermark, counts, the last reorg and
    the caller's datasets it invalidated."""
    return perform(request, chain.chain_status)


@get(
    "/v1/chains/{chain_id:int}/check",
    operation_id="checkChain",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def check_chain(
    request: Req, chain_id: Annotated[int, PathParameter(ge=1, le=9_007_199_254_740_991)]
) -> dict[str, Any]:
    """A chain's problems: missing blocks, broken hash chains, missing or altered cold chunks."""
    return perform(request, chain.chain_check, chain_id=chain_id, store=request.app.state.store)


HANDLERS = [list_chains, check_chain]
