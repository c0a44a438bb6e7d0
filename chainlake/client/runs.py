"""The API client's runs and dead letters: the methods of chainlake.domain.runs, by name and
keyword arguments; and `follow_logs`, a run's events as server-sent events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from chainlake.client.base import BaseClient


def _run(run_id: str) -> str:
    return f"/v1/runs/{quote(run_id, safe='')}"


class RunsClient(BaseClient):
    def list_runs(
        self,
        *,
        org: str | None = None,
        job: str | None = None,
        status: str | None = None,
        trigger: str | None = None,
        since: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        asked = {
            "org": org,
            "job": job,
            "status": status,
            "trigger": trigger,
            "since": since,
            "after": after,
            "limit": limit,
        }
        page: dict[str, Any] = self.request("GET", "/v1/runs", params=asked)
        return page

    def show_run(self, *, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.request("GET", _run(run_id))
        return run

    def await_run(self, *, run_id: str, seconds: float) -> dict[str, Any]:
        """The run once final, or as it is after `seconds`: one request that waits server-side
        (GET /v1/runs/{id}?wait=seconds), not a poll."""
        asked = {"wait": seconds}
        run: dict[str, Any] = self.request("GET", _run(run_id), params=asked, timeout=seconds + 30)
        return run

    def run_logs(self, *, run_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        asked = {"after": after, "limit": limit}
        page: dict[str, Any] = self.request("GET", _run(run_id) + "/logs", params=asked)
        return page

    def follow_logs(
        self, *, run_id: str, after: int = 0, timeout: int = 600
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs of the run's log stream until its `end` (or `timeout`)."""
        asked: dict[str, str | int] = {"after": after, "follow": "true", "timeout": timeout}
        yield from self.events(_run(run_id) + "/logs", asked, timeout + 30)

    def cancel_run(self, *, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.request("POST", _run(run_id) + "/cancel")
        return run

    def rerun(self, *, run_id: str, from_failure: bool = False) -> dict[str, Any]:
        body = {"from_failure": from_failure}
        done: dict[str, Any] = self.request("POST", _run(run_id) + "/rerun", json=body)
        return done

    def list_dead_letters(
        self, *, org: str | None = None, after: int | None = None, limit: int = 100
    ) -> dict[str, Any]:
        asked = {"org": org, "after": after, "limit": limit}
        page: dict[str, Any] = self.request("GET", "/v1/dead-letters", params=asked)
        return page

    def replay_dead_letter(self, *, letter_id: int) -> dict[str, Any]:
        run: dict[str, Any] = self.request("POST", f"/v1/dead-letters/{int(letter_id)}/replay")
        return run
