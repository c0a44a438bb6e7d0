"""The /v1 endpoints. Every request authenticates (api/auth.py), then runs in a transaction under
the caller's identity (chainlake.db.claims_transaction) so that RLS applies; lists are pages
(`limit`, `after`; the answer's `next` is the next `after`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from litestar import Response, delete, get, post
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from api.limits import Held, QueryGate
from api.problems import PROBLEMS, problems
from api.session import Page, Req, as_caller, caller, pool_of
from chainlake import results
from chainlake.errors import InvalidInput, NotFound
from chainlake.query import Session, datasets_named, open_caller_session
from chainlake.storage import ObjectStore


@get("/v1/whoami", operation_id="whoami", responses=PROBLEMS, sync_to_thread=True)
def whoami(request: Req) -> dict[str, Any]:
    """The caller: user id, e-mail, and a membership per org with its role."""
    rows = as_caller(request, "SELECT * FROM core.whoami()")
    return {
        "memberships": [
            {k: (str(v) if v is not None else None) for k, v in r.items()} for r in rows
        ]
    }


@get("/v1/datasets", operation_id="listDatasets", responses=PROBLEMS, sync_to_thread=True)
def list_datasets(
    request: Req, limit: FromQuery[int] = 100, after: FromQuery[str | None] = None
) -> Page:
    """Datasets the caller may read (its orgs' and those shared with them), a page at a time."""
    limit = max(1, min(limit, 1000))
    rows = as_caller(request, "SELECT * FROM catalog.list_datasets(%s, %s)", (after, limit))
    items = [{**r, "updated_at": r["updated_at"].isoformat()} for r in rows]
    following = f"{rows[-1]['org']}/{rows[-1]['name']}" if len(rows) == limit else None
    return Page(items, following)


@dataclass
class QueryRequest:
    sql: str
    format: Literal["json", "jsonl", "csv", "parquet", "arrow"] = "json"
    max_rows: int = 10_000


def _typed(kind: OpenAPIType, **properties: Schema | Reference) -> Schema:
    return Schema(type=kind, properties=properties or None, required=list(properties) or None)


RESULT_PAGE = _typed(  # results.json_page
    OpenAPIType.OBJECT,
    columns=Schema(
        type=OpenAPIType.ARRAY,
        items=_typed(
            OpenAPIType.OBJECT, name=_typed(OpenAPIType.STRING), type=_typed(OpenAPIType.STRING)
        ),
    ),
    rows=Schema(type=OpenAPIType.ARRAY, items=_typed(OpenAPIType.ARRAY)),
    row_count=_typed(OpenAPIType.INTEGER),
    truncated=_typed(OpenAPIType.BOOLEAN),
)


@dataclass
class ResultOperation(Operation):
    """A query's 200 in the OpenAPI document: a JSON page, or the whole result streamed in the
    requested format's media type."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {
                media: OpenAPIMediaType(schema=RESULT_PAGE if fmt == "json" else Schema())
                for fmt, media in results.FORMATS.items()
            }


QUERY_PROBLEMS = {**PROBLEMS, **problems(413)}


@post(
    "/v1/query",
    operation_id="query",
    responses=QUERY_PROBLEMS,
    operation_class=ResultOperation,
    sync_to_thread=True,
    status_code=200,
)
def query(request: Req, data: JSONBody[QueryRequest]) -> Response[Any]:
    """SQL (DuckDB) over the chain views `blocks`, `transactions`, `logs` (hot and cold as one)
    and `"<org>"."<dataset>"` for every dataset the caller may read. `json` answers a page of at
    most `max_rows` rows and the API's byte cap (413 past it); `jsonl`, `csv`, `parquet` and
    `arrow` stream the whole result. Each user runs a few queries at a time (429 beyond)."""
    return _run(request, data.sql, None, data.format, data.max_rows)


def _run(
    request: Req, sql: str, params: dict[str, Any] | None, fmt: str, max_rows: int
) -> Response[Any]:
    """Run the SQL in a slot of the caller's (QueryGate: 429 when none is free), held until the
    answer's last byte: a JSON page under the byte cap, or a stream batch by batch."""
    claims = caller(request)
    gate: QueryGate = request.app.state.query_gate
    leave = gate.enter(str(claims.get("sub", "")), request.state.orgs)
    try:
        session = _session(request, claims, sql)
    except BaseException:
        leave()
        raise

    def done() -> None:
        try:
            session.close()
        finally:
            leave()

    try:
        result = session.execute(sql, params)
        _audit_query(request, sql, fmt, session.saved_sql)
        if fmt != "json":  # the stream gives the slot back after its last byte
            chunks = Held(results.stream(result, fmt), done, gate.caps)
            return Stream(chunks, media_type=results.FORMATS[fmt])
        rows = max(1, min(max_rows, 100_000))
        page = results.json_page(result, rows, gate.caps.json_max_bytes)
    except BaseException:
        done()
        raise
    done()
    return Response(page, media_type=results.FORMATS["json"])


def _session(request: Req, claims: dict[str, Any], sql: str) -> Session:
    store: ObjectStore = request.app.state.store
    with pool_of(request).connection() as conn:
        return open_caller_session(conn, claims, store, sql=sql, pool=request.app.state.sessions)


def _audit_query(request: Req, sql: str, fmt: str, saved: dict[str, str]) -> None:
    """A `data.query` audit event in each org whose datasets the SQL read, also through saved
    queries' views (audit.record_query)."""
    named = datasets_named(sql, saved)
    detail = {
        "sql": sql[:2000],
        "format": fmt,
        "datasets": [f"{org}.{name}" for org, name in named],
    }
    orgs = sorted({org for org, _ in named})
    as_caller(request, "SELECT audit.record_query(%s, %s)", (orgs, json.dumps(detail)))


# -- saved queries -------------------------------------------------------------------------
@dataclass
class SavedQuery:
    name: str
    sql: str
    visibility: Literal["private", "org"] = "private"
    description: str = ""
    params: dict[str, Any] | None = None


@dataclass
class RunSaved:
    params: dict[str, Any] | None = None
    format: Literal["json", "jsonl", "csv", "parquet", "arrow"] = "json"
    max_rows: int = 10_000


def _saved(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    return {k: str(v) if k in ("id", "org_id", "owner_id") else v for k, v in out.items()}


@get("/v1/saved-queries", operation_id="listSavedQueries", responses=PROBLEMS, sync_to_thread=True)
def list_saved_queries(
    request: Req, limit: FromQuery[int] = 100, after: FromQuery[str | None] = None
) -> Page:
    """Your saved queries and those your orgs share, a page at a time."""
    limit = max(1, min(limit, 1000))
    rows = as_caller(request, "SELECT * FROM catalog.list_queries(%s, %s)", (after, limit))
    following = rows[-1]["cursor"] if len(rows) == limit else None
    return Page([_saved({k: v for k, v in r.items() if k != "cursor"}) for r in rows], following)


@post(
    "/v1/saved-queries/{org:str}",
    operation_id="saveQuery",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def save_query(request: Req, org: FromPath[str], data: JSONBody[SavedQuery]) -> dict[str, Any]:
    """Create or replace one of your saved queries (visibility `org` needs the writer role)."""
    rows = as_caller(
        request,
        "SELECT * FROM catalog.save_query(%s, %s, %s, %s, %s, %s)",
        (
            org,
            data.name,
            data.sql,
            data.visibility,
            data.description,
            json.dumps(data.params or {}),
        ),
    )
    return _saved(rows[0])


@get(
    "/v1/saved-queries/{org:str}/{name:str}",
    operation_id="getSavedQuery",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def get_saved_query(request: Req, org: FromPath[str], name: FromPath[str]) -> dict[str, Any]:
    """One saved query: yours by that name, else one your org shares."""
    return _find_saved(request, org, name)


def _find_saved(request: Req, org: str, name: str) -> dict[str, Any]:
    rows = as_caller(request, "SELECT * FROM catalog.find_query(%s, %s)", (org, name))
    if not rows:
        raise NotFound(f'no saved query "{name}" in org "{org}" that you may see')
    return _saved(rows[0])


@delete(
    "/v1/saved-queries/{org:str}/{name:str}",
    operation_id="deleteSavedQuery",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=204,
)
def delete_saved_query(request: Req, org: FromPath[str], name: FromPath[str]) -> None:
    as_caller(request, "SELECT catalog.delete_query(%s, %s)", (org, name))


@post(
    "/v1/saved-queries/{org:str}/{name:str}/run",
    operation_id="runSavedQuery",
    responses=QUERY_PROBLEMS,
    operation_class=ResultOperation,
    sync_to_thread=True,
    status_code=200,
)
def run_saved_query(
    request: Req, org: FromPath[str], name: FromPath[str], data: JSONBody[RunSaved]
) -> Response[Any]:
    """Run a saved query with its parameters (`$name` in its SQL; defaults from the query)."""
    saved = _find_saved(request, org, name)
    params = {**(saved["params"] or {}), **(data.params or {})}
    missing = sorted(k for k, v in params.items() if v is None)
    if missing:
        raise InvalidInput(f"parameter(s) {', '.join(missing)} need a value")
    return _run(request, saved["sql"], params, data.format, data.max_rows)


# -- sharing one object with another org ---------------------------------------------------
Kind = Literal["dataset", "saved_query"]


@dataclass
class GrantRequest:
    kind: Kind
    org: str
    name: str
    grantee: str


@get("/v1/grants", operation_id="listGrants", responses=PROBLEMS, sync_to_thread=True)
def list_grants(
    request: Req, limit: FromQuery[int] = 100, after: FromQuery[str | None] = None
) -> Page:
    """Datasets and saved queries shared by the caller's orgs (seen by their admins and the
    grant's author) or with them (seen by their members), a page at a time."""
    limit = max(1, min(limit, 1000))
    rows = as_caller(request, "SELECT * FROM catalog.list_grants(%s, %s)", (after, limit))
    following = rows[-1]["cursor"] if len(rows) == limit else None
    items = [
        {**{k: v for k, v in r.items() if k != "cursor"}, "created_at": r["created_at"].isoformat()}
        for r in rows
    ]
    return Page(items, following)


@post(
    "/v1/grants", operation_id="grantRead", responses=PROBLEMS, sync_to_thread=True, status_code=201
)
def grant_read(request: Req, data: JSONBody[GrantRequest]) -> dict[str, Any]:
    """Share a dataset (as an admin of its org) or your saved query (as a writer of its org) with
    another org, read-only. Its members see it from their next request."""
    as_caller(
        request,
        "SELECT * FROM catalog.grant_read(%s, %s, %s, %s)",
        (data.kind, data.org, data.name, data.grantee),
    )
    return {"kind": data.kind, "org": data.org, "name": data.name, "grantee": data.grantee}


@delete(
    "/v1/grants/{kind:str}/{org:str}/{name:str}/{grantee:str}",
    operation_id="revokeRead",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=204,
)
def revoke_read(
    request: Req,
    kind: FromPath[Kind],
    org: FromPath[str],
    name: FromPath[str],
    grantee: FromPath[str],
) -> None:
    """Stop sharing; the grantee's next request no longer sees the object."""
    as_caller(request, "SELECT catalog.revoke_read(%s, %s, %s, %s)", (kind, org, name, grantee))


@get("/v1/catalog/search", operation_id="searchCatalog", responses=PROBLEMS, sync_to_thread=True)
def search_catalog(request: Req, q: FromQuery[str], limit: FromQuery[int] = 50) -> Page:
    """Datasets, columns, jobs and saved queries whose name, description, tag or type contains
    `q`, among what the caller may see."""
    if not q.strip():
        raise InvalidInput("q is empty", "search for a word: /v1/catalog/search?q=transfer")
    limit = max(1, min(limit, 1000))
    rows = as_caller(request, "SELECT * FROM catalog.search(%s, %s)", (q, limit))
    return Page(rows, None)


# -- audit -------------------------------------------------------------------------------------
@get("/v1/audit/events", operation_id="listAuditEvents", responses=PROBLEMS, sync_to_thread=True)
def list_audit_events(
    request: Req,
    org: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    limit: FromQuery[int] = 100,
    after: FromQuery[int | None] = None,
) -> Page:
    """Audit events of the orgs you administer, newest first, a page at a time (`after`: the
    `next` of the previous page). `org` and `action` (e.g. `auth.login`, `data.query`) filter."""
    limit = max(1, min(limit, 1000))
    caller(request)  # who asks comes first: a 401 before any 400
    if after is not None and not 0 <= after < 2**63:
        raise InvalidInput(f"after={after}: not an event id", "pass the `next` of a page")
    rows = as_caller(
        request,
        "SELECT * FROM audit.list_events(%s, %s, %s, %s)",
        (org, action, after, limit),
    )
    following = str(rows[-1]["id"]) if len(rows) == limit else None
    items = [{**r, "at": r["at"].isoformat()} for r in rows]
    return Page(items, following)
