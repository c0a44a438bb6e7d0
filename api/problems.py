"""Errors as RFC 9457 problem details (`application/problem+json`): type, title, status, detail,
and chainlake's hint where there is one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from api.auth import NotAuthenticated
from api.fields import plain_words
from chainlake.errors import (
    AlreadyExists,
    ChainlakeError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    ResultTooLarge,
)

MEDIA_TYPE = "application/problem+json"
STATUS = [
    (NotAuthenticated, 401, "not-authenticated", "Not authenticated"),
    (PermissionDenied, 403, "forbidden", "Forbidden"),
    (NotFound, 404, "not-found", "Not found"),
    (AlreadyExists, 409, "conflict", "Already exists"),
    (ResultTooLarge, 413, "too-large", "Result too large"),
    (InvalidInput, 400, "invalid-input", "Invalid input"),
    (QuotaExceeded, 429, "too-many-requests", "Too many requests"),
]


@dataclass
class Problem:
    """The body of every error answer (RFC 9457), for the OpenAPI document."""

    type: str
    title: str
    status: int
    detail: str  # what is wrong
    hint: str | None = None  # how to fix it, where chainlake knows
    errors: list[Any] | dict[str, Any] | None = None  # 400: which request fields, and why
    retry_after: int | None = None  # 429: seconds to wait (also the Retry-After header)


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for these problem statuses, to document on a route handler."""
    titles = {code: title for _, code, _, title in STATUS}
    return {
        code: ResponseSpec(
            Problem, description=titles[code], media_type=MEDIA_TYPE, generate_examples=False
        )
        for code in statuses
    }


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    body = {
        "type": f"https://chainlake.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429:
        headers["Retry-After"] = str(extra.get("retry_after", 60))
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def chainlake_error(_: Request[Any, Any, Any], exc: ChainlakeError) -> Response[Any]:
    for cls, status, slug, title in STATUS:
        if isinstance(exc, cls):
            extra: dict[str, Any] = {"hint": exc.hint} if exc.hint else {}
            if isinstance(exc, QuotaExceeded):
                extra["retry_after"] = exc.retry_after
            return problem(status, slug, title, exc.message, **extra)
    return problem(500, "internal", "Internal error", exc.message)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors as problems, their headers kept: a 405 says which methods the path
    serves (`Allow`, RFC 9110 section 15.5.6), from the router's own list for that path; a 400
    for a request that does not match the document names each field and why."""
    extra: dict[str, Any] = {}
    detail = str(exc.detail)
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
        detail = _fields(exc.extra) or detail
    slug = {
        400: "invalid-input",
        401: "not-authenticated",
        404: "not-found",
        405: "method-not-allowed",
    }.get(exc.status_code, "http-error")
    title = slug.replace("-", " ").capitalize()
    return problem(exc.status_code, slug, title, detail, dict(exc.headers or {}), **extra)


def _fields(errors: Any) -> str:
    """`field: why; ...` from a validation error's list of {key, message, source}."""
    said = [
        f"{e.get('key') or e.get('source') or 'body'}: "
        + plain_words(str(e.get("message", "invalid")))
        for e in (errors if isinstance(errors, list) else [])
        if isinstance(e, dict)
    ]
    return "; ".join(said)


# Every /v1 endpoint authenticates (401), is rate limited (429), validates its input (400) and
# answers what the stored function it calls raises (403, 404, 409).
PROBLEMS = problems(400, 401, 403, 404, 409, 429)

HANDLERS: dict[int | type[Exception], Any] = {
    ChainlakeError: chainlake_error,
    HTTPException: http_error,
}
