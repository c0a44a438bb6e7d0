"""The /v1 endpoints. Every request authenticates (api/auth.py), then runs in a transaction under
the caller's identity (chainlake.db.claims_transaction) so that RLS applies; lists are pages
(`limit`, `after`; the answer's `next` is the next `after`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from litestar import Request, Response, get, post
from litestar.params import FromQuery, JSONBody
from litestar.response import Stream
from psycopg_pool import ConnectionPool

from api.auth import Verifier
from chainlake import results
from chainlake.db import claims_transaction
from chainlake.errors import translate
from chainlake.query import open_caller_session
from chainlake.storage import ObjectStore

Req = Request[Any, Any, Any]


def _pool(request: Req) -> ConnectionPool:
    pool: ConnectionPool = request.app.state.pool
    return pool


def caller(request: Req) -> dict[str, Any]:
    verifier: Verifier = request.app.state.verifier
    return verifier.claims(request.headers.get("authorization"), _pool(request))


def as_caller(request: Req, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """One statement in a transaction under the caller's identity."""
    claims = caller(request)
    with _pool(request).connection() as conn:
        try:
            with claims_transaction(conn, claims) as cur:
                return cur.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise translate(exc) from exc


@get("/v1/whoami", operation_id="whoami", sync_to_thread=True)
def whoami(request: Req) -> dict[str, Any]:
    """The caller: user id, e-mail, and a membership per org with its role."""
    rows = as_caller(request, "SELECT * FROM core.whoami()")
    return {
        "memberships": [
            {k: (str(v) if v is not None else None) for k, v in r.items()} for r in rows
        ]
    }


@dataclass
class Page:
    items: list[dict[str, Any]]
    next: str | None


@get("/v1/datasets", operation_id="listDatasets", sync_to_thread=True)
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


@post("/v1/query", operation_id="query", sync_to_thread=True, status_code=200)
def query(request: Req, data: JSONBody[QueryRequest]) -> Response[Any]:
    """SQL (DuckDB) over the chain views `blocks`, `transactions`, `logs` (hot and cold as one)
    and `"<org>"."<dataset>"` for every dataset the caller may read. `json` answers a page of at
    most `max_rows` rows; `jsonl`, `csv`, `parquet` and `arrow` stream the whole result."""
    claims = caller(request)
    store: ObjectStore = request.app.state.store
    with _pool(request).connection() as conn:
        session = open_caller_session(conn, claims, store)
    try:
        result = session.execute(data.sql)
    except Exception:
        session.close()
        raise
    if data.format == "json":
        try:
            return Response(results.json_page(result, max(1, min(data.max_rows, 100_000))))
        finally:
            session.close()

    def chunks() -> Any:
        try:
            yield from results.stream(result, data.format)
        finally:
            session.close()

    return Stream(chunks(), media_type=results.FORMATS[data.format])
