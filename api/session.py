"""What every /v1 handler shares: who the caller is (their verified token, charged to their rate
limit once per request) and a connection that acts as them (one transaction under their claims,
so that RLS applies), on which handlers call the domain layer (`chainlake.domain`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from litestar import Request
from psycopg_pool import ConnectionPool

from api.auth import NotAuthenticated, Verifier
from chainlake.db import claims_transaction
from chainlake.domain import orgs
from chainlake.errors import translate

P = ParamSpec("P")
R = TypeVar("R")

Req = Request[Any, Any, Any]


def pool_of(request: Req) -> ConnectionPool:
    pool: ConnectionPool = request.app.state.pool
    return pool


def caller(request: Req) -> dict[str, Any]:
    """The verified claims of the request's token, after charging the request to the caller's
    rate limit (core.charge_api_request: over it, 429 with Retry-After, nothing done)."""
    known: dict[str, Any] | None = getattr(request.state, "claims", None)
    if known is not None:  # charged once per request, however many statements it runs
        return known
    with pool_of(request).connection() as conn:
        return _signed_in(request, conn)


def _signed_in(request: Req, conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Verify the token and charge the request, in a transaction of its own on `conn`: the charge
    and the sign-in stay when the operation fails, and the operation's transaction does not hold
    the caller's rate-limit row (which would queue the caller's other requests behind it)."""
    verifier: Verifier = request.app.state.verifier
    identity = verifier.identify(request.headers.get("authorization"), pool_of(request))
    with claims_transaction(conn, identity.claims):
        row = orgs.sign_in(
            conn,
            token_sha256=identity.token_sha256,
            issuer=identity.issuer,
            expires_at=identity.expires_at,
            detail=identity.detail,
        )
    if row["sign_in"] == "unknown":
        raise NotAuthenticated("token refused: its user does not exist or is disabled")
    request.state.claims = identity.claims
    request.state.token_expires = identity.expires_at.timestamp()  # a follow ends with its token
    request.state.orgs = ",".join(sorted(str(o) for o in row["orgs"] or []))
    return identity.claims


@dataclass
class Page:
    items: list[dict[str, Any]]
    next: str | None


@contextmanager
def acting(
    request: Req, isolation: psycopg.IsolationLevel | None = None
) -> Iterator[psycopg.Connection[Any]]:
    """A connection in one transaction under the caller's identity (at `isolation`, default READ
    COMMITTED); the sign-in and the charge go first on the same connection. Driver errors come
    back as ChainlakeError subclasses (problem details, api/problems.py)."""
    with pool_of(request).connection() as conn:
        claims = getattr(request.state, "claims", None) or _signed_in(request, conn)
        conn.isolation_level = isolation
        try:
            with claims_transaction(conn, claims):
                yield conn
        except psycopg.Error as exc:
            raise translate(exc) from exc
        finally:
            conn.isolation_level = None  # the pool's next user starts at the default


def perform(
    request: Req,
    op: Callable[Concatenate[psycopg.Connection[Any], P], R],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """Run one domain operation as the caller, in one transaction."""
    with acting(request) as conn:
        return op(conn, *args, **kwargs)
