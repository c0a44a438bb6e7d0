"""/v1/pii: address labels and similar enrichments (PII), private to a user or shared with
their org. Reading them is audited (one `pii.read` event in the same transaction: a failed
audit fails the read); deleting or redacting a subject is audited and marks the asset versions
built from PII for rebuild. The rules are stored functions (sql/88_pii.sql, docs/tenancy.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import delete, get, post
from litestar.params import JSONBody, QueryParameter
from msgspec import Meta

from api.fields import SUBJECT_PATTERN, Kind, Limit, OrgParam, Subject, SubjectParam, clamp
from api.problems import PROBLEMS
from api.session import Page, Req, perform
from chainlake.domain import pii

Label = Annotated[str, Meta(pattern=r"^[^\x00]*\S[^\x00]*$", min_length=1, max_length=1000)]
SubjectFilter = Annotated[
    str | None, QueryParameter(pattern=SUBJECT_PATTERN, min_length=42, max_length=42)
]


class LabelSpec(msgspec.Struct):
    subject: Subject
    label: Label
    kind: Kind = "label"
    visibility: Literal["private", "org"] = "private"


class SubjectOnly(msgspec.Struct):
    subject: Subject


class Removed(msgspec.Struct):
    org: str
    subject: str
    rows: int
    versions_marked: int


@get(
    "/v1/pii/{org:str}/labels",
    operation_id="listPiiLabels",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def list_labels(
    request: Req, org: OrgParam, subject: SubjectFilter = None, limit: Limit = 1000
) -> Page:
    """The caller's labels in the org and those shared with it, optionally about one subject (at
    most `limit`, 1000). An audited read: one `pii.read` event with who, the filters, the
    subjects and the row count."""
    found = perform(request, pii.list_pii_labels, org=org, subject=subject, limit=clamp(limit))
    return Page(found, None)


@post(
    "/v1/pii/{org:str}/label",
    operation_id="setPiiLabel",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def set_label(request: Req, org: OrgParam, data: JSONBody[LabelSpec]) -> dict[str, Any]:
    """Label a subject: private, or shared with the org (writers and admins). `added` is false
    when the caller already had that label."""
    return perform(request, pii.set_pii_label, org=org, **msgspec.structs.asdict(data))


@delete(
    "/v1/pii/{org:str}/labels",
    operation_id="deletePiiSubject",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def delete_subject(request: Req, org: OrgParam, subject: SubjectParam) -> Removed:
    """Delete every label about `subject` in the caller's scope (their own; as an admin also
    those shared with the org). Audited (`pii.delete`); the asset versions built from PII are
    marked for rebuild."""
    return Removed(**perform(request, pii.delete_pii_subject, org=org, subject=subject))


@post(
    "/v1/pii/{org:str}/redact",
    operation_id="redactPiiSubject",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def redact_subject(request: Req, org: OrgParam, data: JSONBody[SubjectOnly]) -> Removed:
    """Mask every label about `subject` in the caller's scope as `[REDACTED]`, keeping the rows.
    Audited (`pii.redact`); the asset versions built from PII are marked for rebuild."""
    return Removed(**perform(request, pii.redact_pii_subject, org=org, subject=data.subject))


HANDLERS = [list_labels, set_label, delete_subject, redact_subject]
