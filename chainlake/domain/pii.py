"""PII: address labels and similar enrichments, private to a user or shared with their org.
Reading them is audited (one `pii.read` event in the same transaction); deleting or redacting a
subject is audited and marks the asset versions built from PII for rebuild (sql/88_pii.sql,
docs/tenancy.md)."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import one, rows

Conn = psycopg.Connection[Any]


def list_pii_labels(
    conn: Conn, *, org: str, subject: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """The caller's labels in `org` and those shared with it, optionally about one subject."""
    sql = (
        "SELECT * FROM pii.labels(p_org => %(org)s, p_subject => %(subject)s, p_limit => %(limit)s)"
    )
    return rows(conn, sql, {"org": org, "subject": subject, "limit": limit})


def set_pii_label(
    conn: Conn,
    *,
    org: str,
    subject: str,
    label: str,
    kind: str = "label",
    visibility: str = "private",
) -> dict[str, Any]:
    """Label a subject; `added` is false when the caller already had that label."""
    sql = (
        "SELECT pii.set_label(p_org => %(org)s, p_subject => %(subject)s, p_label => %(label)s,"
        " p_kind => %(kind)s, p_visibility => %(visibility)s) AS added"
    )
    values = {
        "org": org,
        "subject": subject,
        "label": label,
        "kind": kind,
        "visibility": visibility,
    }
    added = one(conn, sql, values)["added"]
    return {"org": org, "subject": subject.lower(), "added": bool(added)}


def delete_pii_subject(conn: Conn, *, org: str, subject: str) -> dict[str, Any]:
    """Delete every label about `subject` in the caller's scope (audited, `pii.delete`)."""
    sql = "SELECT * FROM pii.delete_subject(p_org => %(org)s, p_subject => %(subject)s)"
    return _removed(org, subject, one(conn, sql, {"org": org, "subject": subject}))


def redact_pii_subject(conn: Conn, *, org: str, subject: str) -> dict[str, Any]:
    """Mask every label about `subject` in the caller's scope (audited, `pii.redact`)."""
    sql = "SELECT * FROM pii.redact_subject(p_org => %(org)s, p_subject => %(subject)s)"
    return _removed(org, subject, one(conn, sql, {"org": org, "subject": subject}))


def erase_pii_subject(
    conn: Conn, *, subject: str, org: str | None = None, redact: bool = False
) -> list[dict[str, Any]]:
    """The operator's: everyone's labels about `subject`, in `org` or in every org."""
    sql = (
        "SELECT * FROM pii.erase_subject("
        "p_subject => %(subject)s, p_org => %(org)s, p_redact => %(redact)s)"
    )
    return rows(conn, sql, {"subject": subject, "org": org, "redact": redact})


def _removed(org: str, subject: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "org": org,
        "subject": subject.lower(),
        "rows": int(row["rows"]),
        "versions_marked": int(row["versions_marked"]),
    }
