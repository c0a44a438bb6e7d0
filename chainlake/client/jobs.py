"""The API client's jobs: the methods of chainlake.domain.jobs, by name and keyword arguments."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chainlake.client.base import BaseClient


def _job(org: str, name: str) -> str:
    return f"/v1/jobs/{quote(org, safe='')}/{quote(name, safe='')}"


class JobsClient(BaseClient):
    def apply_job(self, *, org: str, definition: dict[str, Any]) -> dict[str, Any]:
        name = str(definition.get("name", ""))
        applied: dict[str, Any] = self.request("PUT", _job(org, name), json=definition)
        return applied

    def list_jobs(self, *, org: str | None = None) -> list[dict[str, Any]]:
        return list(self.pages("/v1/jobs", {"org": org}))

    def show_job(self, *, org: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", _job(org, name))
        return found

    def run_job(
        self,
        *,
        org: str,
        name: str,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"params": params or {}}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        run: dict[str, Any] = self.request("POST", _job(org, name) + "/runs", json=body)
        return run

    def set_webhook_secret(
        self, *, org: str, name: str, key: bytes | None = None
    ) -> dict[str, Any]:
        """`key` is the local path's; the API encrypts with the platform's own key."""
        made: dict[str, Any] = self.request("POST", _job(org, name) + "/webhook-secret")
        return made
