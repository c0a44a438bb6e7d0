"""/v1/jobs: apply a definition (PUT, the definition as JSON), list, show one with its versions,
request a run with params, make a webhook secret. Each handler is one domain operation
(chainlake.domain.jobs) as the caller; the stored functions decide who may do what (writers
apply and run, admins make webhook secrets, the system org's jobs stay the operator's)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import get, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.problems import PROBLEMS
from api.session import Page, Req, caller, perform
from chainlake.domain import jobs
from chainlake.errors import InvalidInput

Name = Annotated[str, PathParameter(min_length=1, max_length=200)]


class RunRequest(msgspec.Struct):
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


@get("/v1/jobs", operation_id="listJobs", responses=PROBLEMS, sync_to_thread=True)
def list_jobs(
    request: Req, org: Annotated[str | None, QueryParameter(max_length=200)] = None
) -> Page:
    """The jobs of the caller's orgs: each one's current version, its schedule's next tick and
    why the scheduler set it aside, if it did."""
    return Page(perform(request, jobs.list_jobs, org=org), None)


@put(
    "/v1/jobs/{org:str}/{name:str}",
    operation_id="applyJob",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def apply_job(
    request: Req, org: Name, name: Name, data: JSONBody[dict[str, Any]]
) -> dict[str, Any]:
    """Apply a job definition (the job contract's YAML, as JSON) to an org (writers): a new
    version, or the same version again unchanged. The definition's `name` is the path's."""
    caller(request)  # who asks comes first: without a valid token, a 401 whatever else is wrong
    given = data.get("name", name)
    if given != name:
        raise InvalidInput(f"name: the path names job {name!r}, the definition {given!r}")
    return perform(request, jobs.apply_job, org=org, definition={**data, "name": name})


@get(
    "/v1/jobs/{org:str}/{name:str}", operation_id="getJob", responses=PROBLEMS, sync_to_thread=True
)
def get_job(request: Req, org: Name, name: Name) -> dict[str, Any]:
    """One job: its current definition, every version applied, its schedule."""
    return perform(request, jobs.show_job, org=org, name=name)


@post(
    "/v1/jobs/{org:str}/{name:str}/runs",
    operation_id="runJob",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def run_job(request: Req, org: Name, name: Name, data: JSONBody[RunRequest]) -> dict[str, Any]:
    """Queue a run of the job's current version with `params` (writers); the same
    `idempotency_key` never queues a second run."""
    return perform(
        request,
        jobs.run_job,
        org=org,
        name=name,
        params=data.params,
        idempotency_key=data.idempotency_key,
    )


@post(
    "/v1/jobs/{org:str}/{name:str}/webhook-secret",
    operation_id="setJobWebhookSecret",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def set_webhook_secret(request: Req, org: Name, name: Name) -> dict[str, Any]:
    """A new HMAC secret for a webhook job (org admins), returned once with the path deliveries
    are posted to; stored encrypted with the platform's key."""
    key: bytes = request.app.state.secret_key
    return perform(request, jobs.set_webhook_secret, org=org, name=name, key=key)


HANDLERS = [list_jobs, apply_job, get_job, run_job, set_webhook_secret]
