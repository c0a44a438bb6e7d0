"""/v1/assets, /v1/backfills and /v1/lineage: datasets (list, versions, status with partitions,
preview of any version, rollback, verify, backfill and its progress) and lineage (a graph, or
OpenLineage RunEvents). Each handler is one domain operation (chainlake.domain.assets, lineage)
as the caller; row-level security and the stored functions decide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.problems import PROBLEMS
from api.runs import UUID_PATTERN
from api.session import Page, Req, caller, perform
from chainlake.domain import assets, lineage

Name = Annotated[str, PathParameter(min_length=1, max_length=200)]
Bound = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ROOT = "/v1/assets/{org:str}/{dataset:str}"


class Rollback(msgspec.Struct):
    version: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]


class Verify(msgspec.Struct):
    version: Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)] | None = None


class Backfill(msgspec.Struct):
    start: Bound = msgspec.field(name="from")
    end: Bound = msgspec.field(name="to")


@get("/v1/assets", operation_id="listAssets", responses=PROBLEMS, sync_to_thread=True)
def list_assets(
    request: Req,
    org: Annotated[str | None, QueryParameter(max_length=200)] = None,
    after: Annotated[str | None, QueryParameter(max_length=401)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=10000)] = 1000,
) -> Page:
    """The datasets of the caller's orgs with their current version, versions and how many need
    a rebuild; a page at a time (`next`, "org/name", is the `after` of the following page)."""
    found = perform(request, assets.list_assets, org=org, after=after, limit=limit)
    return Page(found["items"], found["next"])


@get(f"{ROOT}/versions", operation_id="listAssetVersions", responses=PROBLEMS, sync_to_thread=True)
def asset_versions(request: Req, org: Name, dataset: Name) -> Page:
    """Every version of a dataset: run, job, rows, bytes, schema, state, when."""
    return Page(perform(request, assets.asset_versions, org=org, dataset=dataset), None)


@get(f"{ROOT}/status", operation_id="getAssetStatus", responses=PROBLEMS, sync_to_thread=True)
def asset_status(
    request: Req,
    org: Name,
    dataset: Name,
    start: Annotated[str | None, QueryParameter(name="from", min_length=1, max_length=64)] = None,
    end: Annotated[str | None, QueryParameter(name="to", min_length=1, max_length=64)] = None,
) -> dict[str, Any]:
    """The dataset's staleness, coverage, superseded partitions and validation holds
    (`datasets`); with `from` and `to` (blocks or YYYY-MM-DD), its partitions of that range (one
    of them alone: that partition):
    materialized, missing, failed or running (`partitions`, `counts`)."""
    caller(request)  # who asks comes first: without a valid token, a 401 whatever else is wrong
    if start is not None or end is not None:  # one of them alone: that one partition
        first = start if start is not None else end
        last = end if end is not None else start
        assert first is not None and last is not None
        return perform(
            request, assets.partition_status, org=org, dataset=dataset, start=first, end=last
        )
    found = perform(request, assets.asset_status, org=org, dataset=dataset)
    if not found:
        raise_unknown(org, dataset)
    return {"datasets": found}


def raise_unknown(org: str, dataset: str) -> None:
    from chainlake.errors import NotFound

    raise NotFound(f'unknown dataset "{dataset}" in org "{org}"')


@get(
    "/v1/assets/{org:str}/status",
    operation_id="getOrgAssetStatus",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def org_asset_status(request: Req, org: Name) -> Page:
    """Every dataset of the org: staleness, coverage, superseded partitions, validation holds."""
    return Page(perform(request, assets.asset_status, org=org), None)


@get(f"{ROOT}/preview", operation_id="previewAsset", responses=PROBLEMS, sync_to_thread=True)
def preview_asset(
    request: Req,
    org: Name,
    dataset: Name,
    version: Annotated[int | None, QueryParameter(ge=1, le=2_147_483_647)] = None,
    partition: Annotated[str | None, QueryParameter(min_length=1, max_length=200)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    """The first `limit` records of a version (the current one by default) or of a partition's
    latest version: text lines as they are, Parquet rows as JSON objects; bounded in bytes
    (a long record is cut, saying so; `truncated` when the preview stopped at its byte cap)."""
    return perform(
        request,
        assets.preview_asset,
        org=org,
        dataset=dataset,
        version=version,
        partition=partition,
        limit=limit,
        store=request.app.state.store,
    )


@post(
    f"{ROOT}/rollback",
    operation_id="rollbackAsset",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def rollback_asset(
    request: Req, org: Name, dataset: Name, data: JSONBody[Rollback]
) -> dict[str, Any]:
    """Make an older version current (writers); its dependants re-run on it (`queued`)."""
    return perform(request, assets.rollback_asset, org=org, dataset=dataset, version=data.version)


@post(
    f"{ROOT}/verify",
    operation_id="verifyAsset",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def verify_asset(request: Req, org: Name, dataset: Name, data: JSONBody[Verify]) -> dict[str, Any]:
    """Re-hash a version's files against its manifest (those in the object store through the
    API's store): `problems` names each file missing, altered or unverified (none: every file
    verifies)."""
    return perform(
        request,
        assets.verify_asset,
        org=org,
        dataset=dataset,
        version=data.version,
        store=request.app.state.store,
    )


@post(
    f"{ROOT}/backfill",
    operation_id="backfillAsset",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def backfill(request: Req, org: Name, dataset: Name, data: JSONBody[Backfill]) -> dict[str, Any]:
    """One run per partition of [from, to] (blocks, or YYYY-MM-DD) of a partitioned dataset's
    producing job (writers): all fit the org's queue quota, or none is queued."""
    return perform(
        request, assets.backfill, org=org, dataset=dataset, start=data.start, end=data.end
    )


@get(
    "/v1/backfills/{backfill_id:str}",
    operation_id="getBackfill",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def backfill_progress(
    request: Req, backfill_id: Annotated[str, PathParameter(pattern=UUID_PATTERN)]
) -> dict[str, Any]:
    """A backfill's runs by status (`counts`), and how many have finished."""
    return perform(request, assets.backfill_progress, backfill_id=backfill_id)


@get(
    "/v1/lineage/{org:str}/{dataset:str}",
    operation_id="getLineage",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def get_lineage(
    request: Req,
    org: Name,
    dataset: Name,
    version: Annotated[int | None, QueryParameter(ge=1, le=2_147_483_647)] = None,
    direction: Annotated[Literal["upstream", "downstream"], QueryParameter()] = "upstream",
    depth: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    format: Annotated[Literal["graph", "openlineage"], QueryParameter()] = "graph",
) -> dict[str, Any]:
    """A version's lineage (the current one by default), `direction` up (what it was built
    from) or down (what was built from it), `depth` hops: a graph of `edges`, or with
    `format=openlineage` the runs as OpenLineage RunEvents (`events`)."""
    op: Callable[..., Any] = lineage.openlineage if format == "openlineage" else lineage.lineage
    found = perform(
        request,
        op,
        org=org,
        dataset=dataset,
        version=version,
        direction=direction,
        depth=depth,
    )
    return {"events": found} if isinstance(found, list) else dict(found)


HANDLERS = [
    list_assets,
    asset_versions,
    asset_status,
    org_asset_status,
    preview_asset,
    rollback_asset,
    verify_asset,
    backfill,
    backfill_progress,
    get_lineage,
]
