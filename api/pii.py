"""/v1/pii: address labels and similar enrichments (PII), private to a user or shared with
their org. Reading them is audited (one `pii.read` event in the same transaction: a failed
audit fails the read); deleting or redacting a subject is audited and marks the asset versions
built from PII for rebuild. The rules are stored functions (sql/88_pii.sql, docs/tenancy.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from litestar import delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.problems import PROBLEMS
from api.session import Page, Req, as_caller


@dataclass
class LabelSpec:
    subject: str  # 0x and 40 hex digits
    label: str
    kind: str = "label"
    visibility: Literal["private", "org"] = "private"


@dataclass
class Subject:
    subject: str


@dataclass
class Removed:
    org: str
    subject: str
    rows: int
    versions_marked: int


def _label(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": row["created_at"].isoformat()}


@get(
    "/v1/pii/{org:str}/labels",
    operation_id="listPiiLabels",
    responses=PROBLEMS,
    sync_to_thread=True,
)
def list_labels(
    request: Req,
    org: FromPath[str],
    subject: FromQuery[str | None] = None,
    limit: FromQuery[int] = 1000,
) -> Page:
    """The caller's labels in the org and those shared with it, optionally about one subject (at
    most `limit`, 1000). An audited read: one `pii.read` event with who, the filters, the
    subjects and the row count."""
    limit = max(1, min(limit, 1000))
    rows = as_caller(request, "SELECT * FROM pii.labels(%s, %s, %s)", (org, subject, limit))
    return Page([_label(r) for r in rows], None)


@post(
    "/v1/pii/{org:str}/label",
    operation_id="setPiiLabel",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=201,
)
def set_label(request: Req, org: FromPath[str], data: JSONBody[LabelSpec]) -> dict[str, Any]:
    """Label a subject: private, or shared with the org (writers and admins). `added` is false
    when the caller already had that label."""
    rows = as_caller(
        request,
        "SELECT pii.set_label(%s, %s, %s, %s, %s) AS added",
        (org, data.subject, data.label, data.kind, data.visibility),
    )
    return {"org": org, "subject": data.subject.lower(), "added": bool(rows[0]["added"])}


def _removed(org: str, subject: str, rows: list[dict[str, Any]]) -> Removed:
    (row,) = rows
    return Removed(org, subject.lower(), int(row["rows"]), int(row["versions_marked"]))


@delete(
    "/v1/pii/{org:str}/labels",
    operation_id="deletePiiSubject",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def delete_subject(request: Req, org: FromPath[str], subject: FromQuery[str]) -> Removed:
    """Delete every label about `subject` in the caller's scope (their own; as an admin also
    those shared with the org). Audited (`pii.delete`); the asset versions built from PII are
    marked for rebuild."""
    sql = "SELECT * FROM pii.delete_subject(%s, %s)"
    return _removed(org, subject, as_caller(request, sql, (org, subject)))


@post(
    "/v1/pii/{org:str}/redact",
    operation_id="redactPiiSubject",
    responses=PROBLEMS,
    sync_to_thread=True,
    status_code=200,
)
def redact_subject(request: Req, org: FromPath[str], data: JSONBody[Subject]) -> Removed:
    """Mask every label about `subject` in the caller's scope as `[REDACTED]`, keeping the rows.
    Audited (`pii.redact`); the asset versions built from PII are marked for rebuild."""
    sql = "SELECT * FROM pii.redact_subject(%s, %s)"
    return _removed(org, data.subject, as_caller(request, sql, (org, data.subject)))


HANDLERS = [list_labels, set_label, delete_subject, redact_subject]
