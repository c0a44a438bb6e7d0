"""/v1/query: SQL (DuckDB) over the chain views and the datasets the caller may read, answered as
a JSON page or streamed in a download format. Running a saved query (api/saved.py) ends here too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from litestar import Response, post
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.params import JSONBody
from litestar.response import Stream

from api.fields import MaxRows, Sql
from api.limits import Held, QueryGate
from api.observe import metrics_of
from api.problems import PROBLEMS, problems
from api.session import Req, caller, perform, pool_of
from chainlake import results
from chainlake.domain import query as queries
from chainlake.query import Session, open_caller_session
from chainlake.storage import ObjectStore

Format = Literal["json", "jsonl", "csv", "parquet", "arrow"]


class QueryRequest(msgspec.Struct, forbid_unknown_fields=False):
    sql: Sql
    format: Format = "json"
    max_rows: MaxRows = 10_000


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
    return run(request, data.sql, None, data.format, data.max_rows)


def run(
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

    began, outcome = time.perf_counter(), ["error"]  # ok once the answer's last byte is made
    sent = [0]  # bytes of the answer, for the query's usage

    def done() -> None:
        try:
            session.close()
        finally:
            leave()
            seconds = time.perf_counter() - began
            metrics_of(request).query_duration.labels(fmt, outcome[0]).observe(seconds)

    def streamed_done() -> None:  # a stream's cost: its bytes, once its last one went out
        try:
            charge(request, sql, session.saved_sql, began, None, sent[0])
        finally:
            done()

    try:
        result = session.execute(sql, params)
        perform(request, queries.record_query, sql=sql, format=fmt, saved=session.saved_sql)
        if fmt != "json":  # the stream gives the slot back after its last byte
            counted = _counted(results.stream(result, fmt), request, fmt, outcome, sent)
            chunks = Held(counted, streamed_done, gate.caps)
            return Stream(chunks, media_type=results.FORMATS[fmt])
        rows = max(1, min(max_rows, 100_000))
        page = results.json_page(result, rows, gate.caps.json_max_bytes)
        charge(request, sql, session.saved_sql, began, results.page_row_count(page), len(page))
    except BaseException:
        done()
        raise
    outcome[0] = "ok"
    metrics_of(request).query_result_bytes.labels(fmt).inc(len(page))
    done()
    return Response(page, media_type=results.FORMATS["json"])


def charge(
    request: Req, sql: str, saved: dict[str, str], began: float, rows: int | None, sent: int
) -> None:
    """Record what the query cost (chainlake.domain.query.record_query_usage); `began`: its
    time.perf_counter() at the start."""
    seconds = round(time.perf_counter() - began, 6)
    perform(
        request,
        queries.record_query_usage,
        sql=sql,
        saved=saved,
        seconds=seconds,
        row_count=rows,
        result_bytes=sent,
    )


def _counted(
    chunks: Iterator[bytes], request: Req, fmt: str, outcome: list[str], sent: list[int]
) -> Iterator[bytes]:
    """A stream's chunks, their bytes counted (chainlake_query_result_bytes_total) and added up
    in sent[0] (the query's usage); `outcome` is ok once the last one was made."""
    counter = metrics_of(request).query_result_bytes.labels(fmt)
    for chunk in chunks:
        counter.inc(len(chunk))
        sent[0] += len(chunk)
        yield chunk
    outcome[0] = "ok"


def _session(request: Req, claims: dict[str, Any], sql: str) -> Session:
    store: ObjectStore = request.app.state.store
    with pool_of(request).connection() as conn:
        return open_caller_session(conn, claims, store, sql=sql, pool=request.app.state.sessions)


HANDLERS = [query]
