"""Address labels and other PII: every read is audited."""

from __future__ import annotations

from typing import Any, Literal

from chainlake.client.base import BaseClient, segment


class PiiClient(BaseClient):
    def list_pii_labels(
        self, *, org: str, subject: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Your labels in `org` and those shared with it (an audited read)."""
        found: list[dict[str, Any]] = self._get(
            f"/v1/pii/{segment(org)}/labels", subject=subject, limit=limit
        )["items"]
        return found

    def set_pii_label(
        self,
        *,
        org: str,
        subject: str,
        label: str,
        kind: str = "label",
        visibility: Literal["private", "org"] = "private",
    ) -> dict[str, Any]:
        body = {"subject": subject, "label": label, "kind": kind, "visibility": visibility}
        done: dict[str, Any] = self._post(f"/v1/pii/{segment(org)}/label", body)
        return done

    def delete_pii_subject(self, *, org: str, subject: str) -> dict[str, Any]:
        """Delete every label about `subject` in your scope (audited)."""
        done: dict[str, Any] = self._delete(f"/v1/pii/{segment(org)}/labels", subject=subject)
        return done

    def redact_pii_subject(self, *, org: str, subject: str) -> dict[str, Any]:
        """Mask every label about `subject` in your scope as `[REDACTED]` (audited)."""
        done: dict[str, Any] = self._post(f"/v1/pii/{segment(org)}/redact", {"subject": subject})
        return done
