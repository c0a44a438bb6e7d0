"""/v1/datasets and /v1/catalog/search: what the caller may read, and search over it."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from api.fields import Cursor, Limit, clamp
from api.problems import PROBLEMS
from api.session import Page, Req, perform
from chainlake.domain import catalog

Term = Annotated[str, QueryParameter(pattern=r"^[^\x00]*\S[^\x00]*$", min_length=1, max_length=200)]


@get("/v1/datasets", operation_id="listDatasets", responses=PROBLEMS, sync_to_thread=True)
def list_datasets(request: Req, limit: Limit = 100, after: Cursor = None) -> Page:
    """Datasets the caller may read (its orgs' and those shared with them), a page at a time."""
    limit = clamp(limit)
    found = perform(request, catalog.list_datasets, after=after, limit=limit)
    last = found[-1] if len(found) == limit else None  # the next page starts after org/name
    return Page(found, f"{last['org']}/{last['name']}" if last else None)


@get("/v1/catalog/search", operation_id="searchCatalog", responses=PROBLEMS, sync_to_thread=True)
def search_catalog(request: Req, q: Term, limit: Limit = 50) -> Page:
    """Datasets, columns, jobs and saved queries whose name, description, tag or type contains
    `q`, among what the caller may see."""
    return Page(perform(request, catalog.search_catalog, q=q, limit=clamp(limit)), None)


HANDLERS = [list_datasets, search_catalog]
