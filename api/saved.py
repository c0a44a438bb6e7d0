"""/v1/saved-queries: your saved queries and those your orgs share; create or replace, show,
delete, run with parameters (`$name` in the SQL; defaults from the query)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Response, delete, get, post
from litestar.params import JSONBody

from api.fields import (
    Cursor,
    Limit,
    MaxRows,
    Name,
    NameParam,
    OrgParam,
    Settings,
    Sql,
    Text,
    clamp,
)
from api.problems import PROBLEMS
from api.query import QUERY_PROBLEMS, Format, ResultOperation, run
from api.session import Page, Req, perform
from chainlake.domain import query as queries
from chainlake.domain import saved
from chainlake.domain.pages import next_after


class SavedQuery(msgspec.Struct):
    name: Name
    sql: Sql
    visibility: Literal["private", "org"] = "private"
    description: Text = ""
    params: Settings = {}


class RunSaved(msgspec.Struct):
    params: dict[str, Any] | None = None
    format: Format = "json"
    max_rows: MaxRows = 10_000


@get("/v1/saved-queries", operation_id="listSavedQueries", responses=PROBLEMS, sync_to_thread=True)
def list_saved_queries(request: Req, limit: Limit = 100, after: Cursor = None) -> Page:
    """Your saved queries and those your orgs share, a page at a time."""
    limit = clamp(limit)
    found = perform(request, saved.list_saved_queries, after=after, limit=limit)
    return Page(found, next_after(found, limit))


@post(
    "/v1/saved-queries/{org:str}",
    operation_id="saveQuery",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def save_query(request: Req, org: OrgParam, data: JSONBody[SavedQuery]) -> dict[str, Any]:
    """Create or replace one of your saved queries (visibility `org` needs the writer role)."""
    fields = msgspec.structs.asdict(data)
    return perform(request, saved.save_query, org=org, **fields)


@get(
    "/v1/saved-queries/{org:str}/{name:str}",
    operation_id="getSavedQuery",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def get_saved_query(request: Req, org: OrgParam, name: NameParam) -> dict[str, Any]:
    """One saved query: yours by that name, else one your org shares."""
    return perform(request, saved.get_saved_query, org=org, name=name)


@delete(
    "/v1/saved-queries/{org:str}/{name:str}",
    operation_id="deleteSavedQuery",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=204,
)
def delete_saved_query(request: Req, org: OrgParam, name: NameParam) -> None:
    """Delete your saved query `name` of `org` (only its owner may)."""
    perform(request, saved.delete_saved_query, org=org, name=name)


@post(
    "/v1/saved-queries/{org:str}/{name:str}/run",
    operation_id="runSavedQuery",
    responses=QUERY_PROBLEMS,
    operation_class=ResultOperation,
    sync_to_thread=True,
    status_code=200,
)
def run_saved_query(
    request: Req, org: OrgParam, name: NameParam, data: JSONBody[RunSaved]
) -> Response[Any]:
    """Run a saved query with its parameters (`$name` in its SQL; defaults from the query)."""
    found = perform(request, saved.get_saved_query, org=org, name=name)
    params = queries.saved_query_params(found, data.params)
    return run(request, found["sql"], params, data.format, data.max_rows)


HANDLERS = [list_saved_queries, save_query, get_saved_query, delete_saved_query, run_saved_query]
