"""/v1/usage: what the caller's orgs used, per org and UTC day."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get
from litestar.params import QueryParameter

from api.fields import NAME_PATTERN
from api.problems import PROBLEMS
from api.session import Req, caller, perform
from chainlake.domain import usage as usage_domain

OrgFilter = Annotated[
    str | None,
    QueryParameter(pattern=NAME_PATTERN, min_length=1, max_length=63, description="One org."),
]
Days = Annotated[int, QueryParameter(ge=1, le=366, description="Days back, today included.")]


@get("/v1/usage", operation_id="getUsage", responses=PROBLEMS, sync_to_thread=True)
def get_usage(request: Req, org: OrgFilter = None, days: Days = 7) -> dict[str, Any]:
    """Per org you are a member of and UTC day, newest first: attempts, their CPU seconds and
    highest peak memory, bytes written to datasets, queries, their seconds, bytes scanned
    (null where not measured) and bytes answered."""
    caller(request)
    return {"items": perform(request, usage_domain.usage, org=org, days=days)}


HANDLERS = [get_usage]
