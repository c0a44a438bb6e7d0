"""/v1/secrets: an org's job secrets. Writers set and delete them; members list their names,
never their values. A value is encrypted with the platform key before it reaches Postgres and
is never returned (docs/job-contract.md)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import delete, get, post
from litestar.params import JSONBody
from msgspec import Meta

from api.fields import NO_NUL, OrgParam, SecretParam
from api.problems import PROBLEMS
from api.session import Page, Req, perform
from chainlake.domain import secrets


class SecretValue(msgspec.Struct):
    value: Annotated[str, Meta(pattern=NO_NUL, min_length=1, max_length=65_536)]


@get("/v1/secrets", operation_id="listSecrets", responses=PROBLEMS, sync_to_thread=True)
def list_secrets(request: Req) -> Page:
    """The secrets of the caller's orgs: names and when each was set, never values."""
    return Page(perform(request, secrets.list_secrets), None)


@post(
    "/v1/secrets/{org:str}/{name:str}",
    operation_id="setSecret",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def set_secret(
    request: Req, org: OrgParam, name: SecretParam, data: JSONBody[SecretValue]
) -> dict[str, Any]:
    """Set (or replace) secret `name` of `org` (writers); a job that declares it receives it as
    CHAINLAKE_SECRET_<NAME>."""
    key: bytes = request.app.state.secret_key
    return perform(request, secrets.set_secret, org=org, name=name, value=data.value, key=key)


@delete(
    "/v1/secrets/{org:str}/{name:str}",
    operation_id="deleteSecret",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=204,
)
def delete_secret(request: Req, org: OrgParam, name: SecretParam) -> None:
    """Delete secret `name` of `org` (writers)."""
    perform(request, secrets.delete_secret, org=org, name=name)


HANDLERS = [list_secrets, set_secret, delete_secret]
