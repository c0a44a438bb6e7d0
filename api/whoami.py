"""/v1/whoami: the caller, a membership per org with its role."""

from __future__ import annotations

from typing import Any

from litestar import get

from api.problems import PROBLEMS
from api.session import Req, perform
from chainlake.domain import orgs


@get("/v1/whoami", operation_id="whoami", responses=PROBLEMS, sync_to_thread=True)
def whoami(request: Req) -> dict[str, Any]:
    """The caller: user id, e-mail, and a membership per org with its role."""
    return perform(request, orgs.whoami)


HANDLERS = [whoami]
