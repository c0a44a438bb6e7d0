"""The API client's base: httpx, a bearer token, problems (RFC 9457) raised as the
ChainlakeError subclass matching their status, and pages followed by their `next`.

Kept small on purpose: the remote CLI's branch brings the fuller one (profiles, refresh,
downloads); the mixins use only what both have (`_get`, `_post`, `_delete`, `_page`, `segment`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from chainlake.errors import (
    AlreadyExists,
    ChainlakeError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ResultTooLarge,
)

BY_STATUS: dict[int, type[ChainlakeError]] = {
    400: InvalidInput,
    403: PermissionDenied,
    404: NotFound,
    409: AlreadyExists,
    413: ResultTooLarge,
    422: InvalidInput,
}
MAX_PAGES = 10_000  # a bound on following `next`


class NotSignedIn(ChainlakeError):
    """The API refused the token (missing, expired or unknown): sign in again."""

    exit_code = 8


class BaseClient:
    def __init__(self, api_url: str, token: str, timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one); a problem raises its error."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.http.request(method, path, params=query, json=json)
        except httpx.HTTPError as exc:
            raise ChainlakeError(f"the API at {self.api_url} is unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise problem_error(response)
        if not response.content:
            return None
        if "json" not in response.headers.get("content-type", ""):
            return response.content
        return response.json()

    def _get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def _post(self, path: str, body: Any, **params: Any) -> Any:
        return self.request("POST", path, params=params, json=body)

    def _delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params)

    def _page(
        self, path: str, *, after: str | int | None = None, limit: int = 100, **params: Any
    ) -> list[dict[str, Any]]:
        """The items of one page of a list endpoint (`after`: a previous page's `next`)."""
        items: list[dict[str, Any]] = self._get(path, after=after, limit=limit, **params)["items"]
        return items

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a listing, page after page (bounded)."""
        query = dict(params or {})
        for _ in range(MAX_PAGES):
            page = self.request("GET", path, params=query)
            yield from page["items"]
            if not page.get("next"):
                return
            query["after"] = page["next"]


def problem_error(response: httpx.Response) -> ChainlakeError:
    """The ChainlakeError a problem answer stands for, with its detail and hint."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail") or response.reason_phrase or response.status_code)
    hint = body.get("hint")
    status = response.status_code
    if status == 401:
        return NotSignedIn(detail, hint or "sign in again (a new token)")
    if status == 429:
        retry = int(body.get("retry_after") or response.headers.get("retry-after") or 60)
        return QuotaExceeded(detail, hint, retry_after=retry)
    return BY_STATUS.get(status, ChainlakeError)(detail, hint)


def segment(*names: str) -> str:
    """Path segments, each quoted whole (a name may hold `/`, `?` or `%`)."""
    return "/".join(quote(name, safe="") for name in names)
