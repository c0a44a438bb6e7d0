"""The API client's floor: an httpx client with the caller's token, problem details turned back
into the ChainlakeError subclasses the domain layer raises, and pages followed by `next`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from chainlake.errors import (
    AlreadyExists,
    ChainlakeError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)

MAX_PAGES = 10_000  # a bound on any page walk


class BaseClient:
    def __init__(self, api_url: str, token: str, timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """One call; its decoded JSON, or the ChainlakeError its problem details name."""
        query = {k: _query(v) for k, v in (params or {}).items() if v is not None}
        try:
            response = self.http.request(method, path, params=query, json=json)
        except httpx.HTTPError as exc:
            raise ChainlakeError(f"the API at {self.api_url} did not answer: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json() if response.content else None

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a listing, page after page (`next` is the following page's `after`)."""
        asked = dict(params or {})
        for _ in range(MAX_PAGES):
            page = self.request("GET", path, params=asked)
            yield from page["items"]
            if not page.get("next"):
                return
            asked["after"] = page["next"]

    def close(self) -> None:
        self.http.close()


def _query(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else value


def _error(response: httpx.Response) -> ChainlakeError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    message = str(detail or response.reason_phrase or f"HTTP {response.status_code}")
    hint = body.get("hint") if isinstance(body, dict) else None
    fields = body.get("errors") if isinstance(body, dict) else None
    if isinstance(fields, list) and fields:  # which request fields were refused, and why
        message += ": " + "; ".join(
            f"{e.get('key')}: {e.get('message')}" if isinstance(e, dict) else str(e) for e in fields
        )
    status = response.status_code
    if status in (400, 422):
        return InvalidInput(message, hint)
    if status == 401:
        return ChainlakeError(message, hint or "sign in again")
    if status == 403:
        return PermissionDenied(message, hint)
    if status == 404:
        return NotFound(message, hint)
    if status == 409:
        return AlreadyExists(message, hint)
    if status == 429:
        wait = response.headers.get("retry-after", "60")
        return QuotaExceeded(message, hint, int(wait) if wait.isdigit() else 60)
    return ChainlakeError(message, hint)
