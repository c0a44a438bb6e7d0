"""/v1/audit/events: the audit log of the orgs the caller administers."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from api.fields import MAX_BIGINT, NAME_PATTERN, Limit, clamp
from api.problems import PROBLEMS
from api.session import Page, Req, caller, perform
from chainlake.domain import audit
from chainlake.domain.pages import next_after

OrgFilter = Annotated[
    str | None,
    QueryParameter(pattern=NAME_PATTERN, min_length=1, max_length=63, description="One org."),
]
Action = Annotated[
    str | None,
    QueryParameter(
        pattern=r"^[^\x00]*$", max_length=200, description="e.g. auth.login, data.query"
    ),
]
EventCursor = Annotated[
    int | None, QueryParameter(gt=-1, le=MAX_BIGINT, description="The `next` of the page before.")
]


@get("/v1/audit/events", operation_id="listAuditEvents", responses=PROBLEMS, sync_to_thread=True)
def list_audit_events(
    request: Req,
    org: OrgFilter = None,
    action: Action = None,
    limit: Limit = 100,
    after: EventCursor = None,
) -> Page:
    """Audit events of the orgs you administer, newest first, a page at a time (`after`: the
    `next` of the previous page). `org` and `action` (e.g. `auth.login`, `data.query`) filter."""
    caller(request)
    found = perform(
        request, audit.list_audit_events, org=org, action=action, after=after, limit=clamp(limit)
    )
    return Page(found, next_after(found, clamp(limit), key="id"))


HANDLERS = [list_audit_events]
