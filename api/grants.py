"""/v1/grants: one dataset or saved query shared with another org, read-only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import delete, get, post
from litestar.params import JSONBody, PathParameter

from api.fields import DATASET_PATTERN, Cursor, Limit, Name, OrgParam, clamp
from api.problems import PROBLEMS
from api.session import Page, Req, perform
from chainlake.domain import grants
from chainlake.domain.pages import next_after

Kind = Literal["dataset", "saved_query"]
KindParam = Annotated[Kind, PathParameter()]
# a dataset's name may hold dots; a saved query's may not (the server says which is missing)
ObjectName = Annotated[str, msgspec.Meta(pattern=DATASET_PATTERN, min_length=1, max_length=63)]
ObjectParam = Annotated[str, PathParameter(pattern=DATASET_PATTERN, min_length=1, max_length=63)]


class GrantRequest(msgspec.Struct):
    kind: Kind
    org: Name
    name: ObjectName
    grantee: Name


@get("/v1/grants", operation_id="listGrants", responses=PROBLEMS, sync_to_thread=True)
def list_grants(request: Req, limit: Limit = 100, after: Cursor = None) -> Page:
    """Datasets and saved queries shared by the caller's orgs (seen by their admins and the
    grant's author) or with them (seen by their members), a page at a time."""
    limit = clamp(limit)
    found = perform(request, grants.list_grants, after=after, limit=limit)
    return Page(found, next_after(found, limit))


@post(
    "/v1/grants", operation_id="grantRead", responses=PROBLEMS, sync_to_thread=True, status_code=201
)
def grant_read(request: Req, data: JSONBody[GrantRequest]) -> dict[str, Any]:
    """Share a dataset (as an admin of its org) or your saved query (as a writer of its org) with
    another org, read-only. Its members see it from their next request."""
    return perform(request, grants.grant_read, **msgspec.structs.asdict(data))


@delete(
    "/v1/grants/{kind:str}/{org:str}/{name:str}/{grantee:str}",
    operation_id="revokeRead",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=204,
)
def revoke_read(
    request: Req, kind: KindParam, org: OrgParam, name: ObjectParam, grantee: OrgParam
) -> None:
    """Stop sharing; the grantee's next request no longer sees the object."""
    perform(request, grants.revoke_read, kind=kind, org=org, name=name, grantee=grantee)


HANDLERS = [list_grants, grant_read, revoke_read]
