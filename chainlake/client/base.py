"""The API client's floor: one httpx client with a bearer token, JSON in and out, problem details
(RFC 9457) turned back into the ChainlakeError subclasses the API made them from, pages followed
by their `next` cursor, and the two failures a remote user meets first, said in one line: a
session that expired (and how to sign in again) and an API that cannot be reached (and where)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Self
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

TokenProvider = Callable[[], str]
MAX_PAGES = 10_000  # a paging loop ends even if a server keeps answering `next`

_BY_STATUS: dict[int, type[ChainlakeError]] = {
    400: InvalidInput,
    403: PermissionDenied,
    404: NotFound,
    405: InvalidInput,
    409: AlreadyExists,
    413: ResultTooLarge,
    422: InvalidInput,
}


class NotSignedIn(ChainlakeError):
    """The API refused the token (expired, revoked, or of no user): sign in again."""

    exit_code = 8


class Unreachable(ChainlakeError):
    """The API did not answer: wrong address, down, or a network between."""

    exit_code = 6


class BaseClient:
    """An authenticated connection to one chainlake API.

    `token` is a fixed bearer token; `token_provider` is called before each request for a valid
    one (a profile's, which refreshes it: chainlake.client.profiles). `profile` names the
    profile in the messages that say how to sign in again."""

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        *,
        token_provider: TokenProvider | None = None,
        timeout: float = 30.0,
        profile: str | None = None,
    ) -> None:
        if token is None and token_provider is None:
            raise InvalidInput("a client needs a token or a token provider")
        self.api_url = api_url.rstrip("/")
        self.profile = profile
        self._token_provider = token_provider or (lambda: str(token))
        self._http = httpx.Client(base_url=self.api_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        stream: bool = False,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token_provider()}"}
        query = {k: v for k, v in (params or {}).items() if v is not None}
        request = self._http.build_request(method, path, params=query, json=json, headers=headers)
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise Unreachable(
                f"the chainlake API at {self.api_url} did not answer in time ({method} {path})",
                "try again; if it persists, check the API's status with its operator",
            ) from exc
        except httpx.TransportError as exc:
            raise Unreachable(
                f"cannot reach the chainlake API at {self.api_url}: {_reason(exc)}",
                "check the address (`chainlake profile show`) and your network",
            ) from exc
        if response.status_code >= 400:
            if stream:
                response.read()
                response.close()
            raise self._problem(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _get(self, path: str, **params: Any) -> Any:
        return self._json("GET", path, params=params)

    def _post(self, path: str, body: Any, **params: Any) -> Any:
        return self._json("POST", path, json=body, params=params)

    def _delete(self, path: str, **params: Any) -> Any:
        return self._json("DELETE", path, params=params)

    def _chunks(self, path: str, body: Any) -> Iterator[bytes]:
        """POST `body` and yield the streamed answer as it comes (the request is sent, and its
        errors raised, on the first `next`)."""
        response = self._send("POST", path, json=body, stream=True)
        written = 0
        try:
            for chunk in response.iter_bytes():
                written += len(chunk)
                yield chunk
        except httpx.TransportError as exc:
            raise ChainlakeError(
                f"the download from {self.api_url}{path} ended early after {written} bytes",
                "run it again; a result that fails part way is not complete",
            ) from exc
        finally:
            response.close()

    def _download(self, path: str, body: Any, out: BinaryIO) -> int:
        """POST `body` and write the streamed answer to `out`; the bytes written."""
        written = 0
        for chunk in self._chunks(path, body):
            out.write(chunk)
            written += len(chunk)
        return written

    # -- pages -----------------------------------------------------------------------------
    def _page(
        self, path: str, *, after: str | int | None = None, limit: int = 100, **params: Any
    ) -> list[dict[str, Any]]:
        """The items of one page of a list endpoint (`after`: a previous page's `next`)."""
        page = self._get(path, after=after, limit=limit, **params)
        items: list[dict[str, Any]] = page["items"]
        return items

    def pages(
        self, path: str, *, limit: int = 100, **params: Any
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list endpoint, following each answer's `next` cursor (at most
        MAX_PAGES pages: a server that never stops cannot loop a client forever)."""
        after: str | None = None
        for _ in range(MAX_PAGES):
            page = self._get(path, after=after, limit=limit, **params)
            yield page["items"]
            after = page.get("next")
            if not after or not page["items"]:
                return
        raise ChainlakeError(f"{path}: more than {MAX_PAGES} pages; narrow the listing")

    def every(self, path: str, *, limit: int = 100, **params: Any) -> list[dict[str, Any]]:
        """The items of every page of a list endpoint."""
        return [item for page in self.pages(path, limit=limit, **params) for item in page]

    # -- errors ----------------------------------------------------------------------------
    def _problem(self, response: httpx.Response) -> ChainlakeError:
        """The ChainlakeError a problem-details answer stands for, with its detail and hint."""
        body = _body(response)
        detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
        hint = body.get("hint")
        fields = _fields(body.get("errors"))
        if fields:
            detail = f"{detail}: {fields}"
        status = response.status_code
        if status == 401:
            return self._not_signed_in(detail)
        if status == 429:
            wait = body.get("retry_after") or response.headers.get("Retry-After") or 60
            return QuotaExceeded(detail, hint, int(wait) if str(wait).isdigit() else 60)
        if status == 405:
            detail = f"{response.request.method} {response.request.url.path}: {detail}"
            hint = hint or "this API may be older than this client: upgrade the API"
        cls = _BY_STATUS.get(status, ChainlakeError)
        if cls is ChainlakeError:
            detail = f"the chainlake API answered {status}: {detail}"
        return cls(detail, hint)

    def _not_signed_in(self, detail: str) -> NotSignedIn:
        again = f"chainlake login --profile {self.profile}" if self.profile else "chainlake login"
        if self.profile and "expired" in detail.lower():
            return NotSignedIn(f"your session for {self.profile} expired: run `{again}`", detail)
        who = f"profile {self.profile}" if self.profile else "your token"
        return NotSignedIn(f"the API refused the sign-in of {who}: {detail}", f"run `{again}`")


def segment(*names: str) -> str:
    """Path segments, each quoted whole (a name may hold `/`, `?` or `%`)."""
    return "/".join(quote(name, safe="") for name in names)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500].strip() or response.reason_phrase}
    return body if isinstance(body, dict) else {"detail": str(body)[:500]}


def _fields(errors: Any) -> str:
    """`field: message` for each request field a 400 names (Litestar's validation `errors`)."""
    if not isinstance(errors, list):
        return ""
    said = []
    for error in errors:
        if isinstance(error, dict) and error.get("key"):
            said.append(f"{error['key']}: {error.get('message', 'invalid')}")
    return "; ".join(said)


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
