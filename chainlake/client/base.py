"""The API client's floor: one httpx client with a bearer token, JSON in and out, problem details
(RFC 9457) turned back into the ChainlakeError subclasses the API made them from, pages followed
by their `next` cursor, and the two failures a remote user meets first, said in one line: a
session that expired (and how to sign in again) and an API that cannot be reached (and where)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator
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


MAX_ANSWER_BYTES = 256 << 20  # a JSON answer the client reads whole (pages are far smaller)


def bounded_send(
    http: httpx.Client,
    request: httpx.Request,
    *,
    seconds: float,
    max_bytes: int,
    what: str,
) -> httpx.Response:
    """Send `request` and read its whole answer within `seconds` and `max_bytes`. httpx bounds
    each read, not the answer: a server that trickles a byte at a time would otherwise hold the
    caller (and grow its memory) for ever. The answer comes back read, decoded."""
    ends = time.monotonic() + seconds
    response = http.send(request, stream=True)
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise ChainlakeError(
                    f"{what} answered more than {max_bytes >> 20} MB; the client stopped reading"
                )
            if time.monotonic() > ends:
                raise Unreachable(
                    f"{what} did not finish answering within {seconds:g} s",
                    "try again; if it persists, the server is broken or hostile",
                )
    finally:
        response.close()
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code, headers=headers, content=bytes(body), request=request
    )


class BearerToken(httpx.Auth):
    """`Authorization: Bearer <token>` on every request, the token asked for each time (so a
    profile's is renewed when it expires, whichever request or stream comes first)."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.provider()}"
        yield request


class BaseClient:
    """An authenticated connection to one chainlake API.

    `token` is a fixed bearer token; `token_provider` is called before each request for a valid
    one (a profile's, which renews it: chainlake.client.profiles). `profile` names the profile
    in the messages that say how to sign in again. Mixins call `request` (JSON in and out),
    `_get`/`_post`/`_delete`, `_page` (one page's items), `pages` (every item) and `segment`;
    `http` is the underlying httpx client, authenticated, for streams."""

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        timeout: float = 30.0,
        *,
        token_provider: TokenProvider | None = None,
        profile: str | None = None,
    ) -> None:
        if token is None and token_provider is None:
            raise InvalidInput("a client needs a token or a token provider")
        self.api_url = api_url.rstrip("/")
        self.profile = profile
        self.timeout = timeout
        bearer = BearerToken(token_provider or (lambda: str(token)))
        self.http = httpx.Client(base_url=self.api_url, timeout=timeout, auth=bearer)

    def close(self) -> None:
        self.http.close()

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
        timeout: float | None = None,
    ) -> httpx.Response:
        seconds = timeout or self.timeout
        query = {k: _query(v) for k, v in (params or {}).items() if v is not None}
        request = self.http.build_request(method, path, params=query, json=json, timeout=seconds)
        try:
            response = (
                self.http.send(request, stream=True)
                if stream
                else bounded_send(
                    self.http,
                    request,
                    seconds=seconds,
                    max_bytes=MAX_ANSWER_BYTES,
                    what=f"the chainlake API at {self.api_url} ({method} {path})",
                )
            )
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
            raise problem_error(response, self.profile)
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """One call: its JSON answer decoded (None when empty, the bytes when not JSON), or the
        ChainlakeError its problem details stand for; `timeout` (seconds) for a call that waits
        longer than the client's default."""
        response = self._send(method, path, params=params, json=json, timeout=timeout)
        if response.status_code == 204 or not response.content:
            return None
        if "json" not in response.headers.get("content-type", "json"):
            return response.content
        try:
            return response.json()
        except ValueError as exc:
            raise ChainlakeError(
                f"the chainlake API at {self.api_url} answered {method} {path} with broken JSON"
            ) from exc

    def events(
        self, path: str, params: dict[str, str | int], seconds: float
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs of a server-sent event stream, until the server ends it."""
        with self.http.stream(
            "GET", path, params=params, headers={"Accept": "text/event-stream"}, timeout=seconds
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise problem_error(response, self.profile)
            kind = "message"
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    yield kind, json.loads(line.removeprefix("data: "))
                    kind = "message"

    def _get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def _post(self, path: str, body: Any, **params: Any) -> Any:
        return self.request("POST", path, json=body, params=params)

    def _delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params)

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

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, page after page, following each answer's `next` (at
        most MAX_PAGES pages: a server that never stops cannot loop a client forever)."""
        asked = dict(params or {})
        for _ in range(MAX_PAGES):
            page = self.request("GET", path, params=asked)
            yield from page["items"]
            if not page.get("next") or not page["items"]:
                return
            asked["after"] = page["next"]
        raise ChainlakeError(f"{path}: more than {MAX_PAGES} pages; narrow the listing")


def problem_error(response: httpx.Response, profile: str | None = None) -> ChainlakeError:
    """The ChainlakeError a problem-details answer stands for, with its detail (and the request
    fields a 400 names) and hint; a 401 says how to sign in again (to `profile`)."""
    body = _body(response)
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    hint = body.get("hint")
    fields = _fields(body.get("errors"))
    if fields and fields not in detail:
        detail = f"{detail}: {fields}"
    status = response.status_code
    if status == 401:
        return _not_signed_in(detail, profile)
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


_error = problem_error  # the name the runs mixin knows it by


def _not_signed_in(detail: str, profile: str | None) -> NotSignedIn:
    again = f"chainlake login --profile {profile}" if profile else "chainlake login"
    if profile and "expired" in detail.lower():
        return NotSignedIn(f"your session for {profile} expired: run `{again}`", detail)
    who = f"profile {profile}" if profile else "your token"
    return NotSignedIn(f"the API refused the sign-in of {who}: {detail}", f"run `{again}`")


def _query(value: Any) -> Any:
    """A query parameter as the API reads it (booleans as `true`/`false`)."""
    return str(value).lower() if isinstance(value, bool) else value


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
