"""Who is calling: a bearer JWT from the dev issuer (`.chainlake/dev-issuer/jwks.json`) or from an
OIDC provider configured by its discovery URL (docs/tenancy.md, "Single sign-on").

An OIDC token is checked against its issuer's published keys (fetched from its JWKS, fetched
again on an unknown key id, at most every `jwks_min_refresh_seconds`, and at least every
`jwks_max_age_seconds` so that a retired key stops working): an asymmetric algorithm only (never
`none`, never HS*), the configured audience, the issuer, and exp, nbf and iat with a small leeway.
Its claims map to a chainlake user (by an e-mail claim, or a client id for client-credentials
tokens) and, when configured, to org roles that narrow what the user's memberships allow. The
result is the claims the request's transaction runs under (`request.jwt.claims`): RLS does the
rest.

Identity providers cannot stall the API: each configured issuer is known by its `iss` before any
request (its `issuer`, by default its discovery URL less `/.well-known/openid-configuration`),
so a token naming any other issuer is refused without network I/O; a provider is contacted only
for its own tokens, with a short timeout (`timeout_seconds`), by one request at a time (a lock
per provider, which others wait on for at most that timeout); and a failure is remembered: the
provider is not asked again before its backoff (`retry_min_seconds`, doubling up to
`retry_max_seconds`) has passed, its tokens refused meanwhile without I/O."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import yaml
from psycopg_pool import ConnectionPool

from chainlake.domain import orgs
from chainlake.errors import ChainlakeError, InvalidInput
from chainlake.tokens import DEV_ISSUER, SignatureCache, verify_dev_token

ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
ROLES = ("reader", "writer", "admin")
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
MAX_DOCUMENT_BYTES = 1 << 20  # a discovery document or JWKS larger than this is malformed


class NotAuthenticated(ChainlakeError):
    """401: no credentials, or credentials that do not verify."""


@dataclass(frozen=True)
class Identity:
    """A verified token: the claims its request runs under, and what its sign-in records."""

    claims: dict[str, Any]
    issuer: str
    token_sha256: bytes
    expires_at: datetime
    detail: dict[str, Any]


@dataclass
class Backoff:
    """When a provider that failed may be asked again: `min_s` after the first failure, doubling
    with each failure in a row up to `max_s`; a success forgets the failures."""

    min_s: float
    max_s: float
    failures: int = 0
    retry_at: float = float("-inf")

    def wait_s(self, now: float) -> float:
        return max(0.0, self.retry_at - now)

    def failed(self, now: float) -> None:
        self.failures += 1
        self.retry_at = now + min(self.max_s, self.min_s * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures, self.retry_at = 0, float("-inf")


@dataclass
class OidcIssuer:
    """One OIDC provider, and how its tokens' claims map to chainlake identities."""

    discovery_url: str
    audience: str
    user_claim: str = "email"  # the claim holding the user's e-mail
    # ... which counts only when this claim is true (None: the provider verifies every e-mail)
    verified_claim: str | None = "email_verified"
    clients: dict[str, str] = field(default_factory=dict)  # client id -> user e-mail
    org_claim: str | None = None  # a claim naming the org (or a list of orgs) the token acts for
    role_claim: str | None = None  # a claim naming the role it acts with
    roles: dict[str, str] = field(default_factory=lambda: {r: r for r in ROLES})
    leeway_seconds: int = 30
    jwks_min_refresh_seconds: float = 10.0
    jwks_max_age_seconds: float = 300.0
    issuer: str = ""  # the `iss` of its tokens; default: the discovery URL less DISCOVERY_SUFFIX
    timeout_seconds: float = 3.0  # per request to the provider
    retry_min_seconds: float = 5.0  # after a failure, the provider is not asked again before
    retry_max_seconds: float = 300.0  # ... this backoff (doubling per failure up to the max)
    cli_client_id: str | None = None  # the provider's public client for `chainlake login`
    cli_scope: str = "openid email offline_access"  # ... and the scopes it asks for
    _jwks_uri: str = ""
    _keys: dict[str, tuple[jwt.PyJWK, str | None]] = field(default_factory=dict)  # kid: key, alg
    _fetched_at: float = float("-inf")
    _fetching: threading.Lock = field(default_factory=threading.Lock)  # one request at a time
    _backoff: Backoff = field(default_factory=lambda: Backoff(0.0, 0.0))
    _signatures: SignatureCache = field(default_factory=SignatureCache, repr=False)

    def __post_init__(self) -> None:
        if not self.issuer:
            if not self.discovery_url.endswith(DISCOVERY_SUFFIX):
                raise InvalidInput(
                    f"OIDC issuer {self.discovery_url}: set `issuer` (the `iss` of its tokens)",
                    f"without it the issuer is the discovery URL less {DISCOVERY_SUFFIX}",
                )
            self.issuer = self.discovery_url.removesuffix(DISCOVERY_SUFFIX)
        self._backoff = Backoff(self.retry_min_seconds, self.retry_max_seconds)

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> OidcIssuer:
        known = {
            "discovery_url", "audience", "user_claim", "verified_claim", "clients", "org_claim",
            "role_claim", "roles", "leeway_seconds", "jwks_min_refresh_seconds",
            "jwks_max_age_seconds", "issuer", "timeout_seconds", "retry_min_seconds",
            "retry_max_seconds", "cli_client_id", "cli_scope",
        }  # fmt: skip
        unknown = set(entry) - known
        if unknown or "discovery_url" not in entry or "audience" not in entry:
            raise InvalidInput(
                f"OIDC issuer entry {entry!r}: needs discovery_url and audience"
                + (f"; unknown keys {sorted(unknown)}" if unknown else ""),
                f"known keys: {sorted(known)} (docs/tenancy.md, single sign-on)",
            )
        bad = {k: v for k, v in entry.get("roles", {}).items() if v not in ROLES}
        if bad:
            raise InvalidInput(f"OIDC roles map {bad} to unknown roles", f"use {ROLES}")
        return cls(**entry)

    def _fetch(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=self.timeout_seconds) as response:  # noqa: S310
            return json.loads(response.read(MAX_DOCUMENT_BYTES))

    def _discover(self) -> None:
        """The provider's JWKS address from its discovery document (read once), which must name
        the configured issuer."""
        document = self._fetch(self.discovery_url)
        jwks_uri, issuer = document["jwks_uri"], document["issuer"]
        if not isinstance(jwks_uri, str) or issuer != self.issuer:
            raise ValueError(f"its discovery document names issuer {issuer!r}, not {self.issuer!r}")
        self._jwks_uri = jwks_uri

    def _ask_provider(self, needed: Callable[[], bool], call: Callable[[], None]) -> None:
        """Run `call` (requests to this provider) if still `needed` once this thread holds the
        provider's lock: never while a failure's backoff lasts, never waiting longer than one
        request's timeout for another thread's call, and not at all once the provider has
        failed (the API's worker threads are few: requests waiting for a provider that is down
        would hold them all, and every org's requests would wait). NotAuthenticated when it
        cannot be had."""
        patience = self.timeout_seconds if self._backoff.failures == 0 else 0.0
        if not self._fetching.acquire(timeout=patience):
            raise NotAuthenticated("token refused: its provider is unreachable or slow; try again")
        try:
            if not needed():
                return
            wait = self._backoff.wait_s(time.monotonic())
            if wait > 0:
                raise NotAuthenticated(
                    f"token refused: its provider is unreachable (asked again in {wait:.0f} s)"
                )
            try:
                call()
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self._backoff.failed(time.monotonic())
                refused = f"token refused: its provider is unreachable: {exc}"
                raise NotAuthenticated(refused) from exc
            self._backoff.succeeded()
        finally:
            self._fetching.release()

    def _refresh(self) -> None:
        if not self._jwks_uri:
            self._discover()
        document = self._fetch(self._jwks_uri)
        entries = document.get("keys", []) if isinstance(document, dict) else []
        keys = {}
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            if entry.get("use", "sig") != "sig" or not isinstance(entry.get("kid"), str):
                continue
            try:
                keys[entry["kid"]] = (jwt.PyJWK(entry), entry.get("alg"))
            except jwt.PyJWTError:
                continue  # a key type this library cannot use: tokens signed with it fail
        self._keys, self._fetched_at = keys, time.monotonic()

    def _keys_wanted(self, kid: str) -> tuple[bool, bool]:
        """(fetch the JWKS now?, are the keys held too old to use?)"""
        age = time.monotonic() - self._fetched_at
        stale = age > self.jwks_max_age_seconds
        return stale or (kid not in self._keys and age >= self.jwks_min_refresh_seconds), stale

    def key(self, kid: str) -> tuple[jwt.PyJWK, str | None]:
        wanted, stale = self._keys_wanted(kid)
        if wanted:
            try:
                self._ask_provider(lambda: self._keys_wanted(kid)[0], self._refresh)
            except NotAuthenticated:
                if stale:
                    raise
        found = self._keys.get(kid)  # the keys are replaced whole, never changed in place
        if found is None:
            raise NotAuthenticated(f"token refused: unknown key id {kid!r}")
        return found

    def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"token refused: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC:
            raise NotAuthenticated(
                f"token refused: algorithm {algorithm!r} is not accepted",
                f"use one of {ASYMMETRIC}",
            )
        key, key_algorithm = self.key(str(header.get("kid", "")))
        if key_algorithm not in (None, algorithm):
            raise NotAuthenticated(
                f"token refused: key {header.get('kid')!r} is for {key_algorithm}, not {algorithm}"
            )
        checked = self._signatures.claims(token, key, time.time())
        if checked is not None:
            return checked
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=self.leeway_seconds,
            )
        except jwt.InvalidAudienceError as exc:
            raise NotAuthenticated(
                f"token refused: its audience is not {self.audience!r}",
                f"ask the provider for a token for the resource {self.audience}",
            ) from exc
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"token refused: {exc}") from exc
        self._signatures.remember(token, key, claims, float(claims["exp"]) + self.leeway_seconds)
        return claims

    def user_email(self, claims: dict[str, Any]) -> str:
        client = claims.get("client_id")
        if isinstance(client, str) and claims.get("sub") == client:  # client credentials
            email = self.clients.get(client)
            if email is None:
                raise NotAuthenticated(
                    f"token refused: client {client!r} is not mapped to a chainlake user",
                    "add it under `clients` of this issuer in the OIDC configuration",
                )
            return email
        email = claims.get(self.user_claim)
        if not isinstance(email, str):
            raise NotAuthenticated(f"token refused: no {self.user_claim!r} claim")
        if self.verified_claim is not None and claims.get(self.verified_claim) is not True:
            raise NotAuthenticated(
                f"token refused: its {self.user_claim!r} is not verified "
                f"({self.verified_claim!r} is not true)",
                "verify the address at the provider, or set verified_claim: null for a provider "
                "that verifies every address",
            )
        return email

    def org_roles(self, claims: dict[str, Any]) -> dict[str, str] | None:
        """{org name or '*': role} from the token, or None when this issuer maps none."""
        if self.org_claim is None and self.role_claim is None:
            return None
        role = "admin"  # no role claim: the membership's own role
        if self.role_claim is not None:
            value = claims.get(self.role_claim)
            role = self.roles.get(value) if isinstance(value, str) else None  # type: ignore[assignment]
            if role is None:
                raise NotAuthenticated(
                    f"token refused: its {self.role_claim!r} claim {value!r} maps to no role",
                    f"the configured roles map {sorted(self.roles)}",
                )
        if self.org_claim is None:
            return {"*": role}
        orgs = claims.get(self.org_claim)
        orgs = [orgs] if isinstance(orgs, str) else orgs
        if not isinstance(orgs, list) or not all(isinstance(o, str) for o in orgs):
            raise NotAuthenticated(f"token refused: no {self.org_claim!r} claim naming orgs")
        return {org: role for org in orgs}


def load_oidc_config(path: Path) -> list[OidcIssuer]:
    """The `issuers:` list of an OIDC configuration file (YAML), or a clear error."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"OIDC configuration {path}: {exc}") from exc
    entries = document.get("issuers") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InvalidInput(f"OIDC configuration {path}: no `issuers:` list")
    return [OidcIssuer.from_config(e) for e in entries]


@dataclass
class Verifier:
    dev_issuer_dir: Path | None
    oidc: list[OidcIssuer] = field(default_factory=list)

    @classmethod
    def from_environment(cls, home: Path) -> Verifier:
        """The dev issuer under `home`; the issuers of $CHAINLAKE_OIDC_CONFIG (a YAML file,
        default `home/oidc.yaml` if present); and $CHAINLAKE_OIDC_ISSUERS, comma-separated
        discovery URLs for audience $CHAINLAKE_OIDC_AUDIENCE (default `chainlake`) whose tokens
        map to users by their e-mail claim, and whose public client for `chainlake login` is
        $CHAINLAKE_OIDC_CLI_CLIENT_ID (if set)."""
        config = Path(os.environ.get("CHAINLAKE_OIDC_CONFIG") or home / "oidc.yaml")
        issuers = load_oidc_config(config) if config.is_file() else []
        audience = os.environ.get("CHAINLAKE_OIDC_AUDIENCE", "chainlake")
        claim = os.environ.get("CHAINLAKE_OIDC_EMAIL_CLAIM", "email")
        urls = [u.strip() for u in os.environ.get("CHAINLAKE_OIDC_ISSUERS", "").split(",")]
        cli = os.environ.get("CHAINLAKE_OIDC_CLI_CLIENT_ID") or None
        issuers += [OidcIssuer(u, audience, claim, cli_client_id=cli) for u in urls if u]
        return cls(home / "dev-issuer", issuers)

    def identify(self, authorization: str | None, pool: ConnectionPool) -> Identity:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated(
                "no bearer token", "send `Authorization: Bearer <JWT>` (`chainlake token`)"
            )
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"token refused: {exc}") from exc
        issuer = unverified.get("iss")
        if issuer == DEV_ISSUER and self.dev_issuer_dir is not None:
            try:
                claims = verify_dev_token(self.dev_issuer_dir, token)
            except ChainlakeError as exc:
                raise NotAuthenticated(exc.message) from exc
            return _identity(token, claims, {"sub": claims["sub"], "iss": issuer})
        oidc = self._issuer(issuer) if isinstance(issuer, str) else None
        if oidc is None:
            raise NotAuthenticated(
                "token refused: unknown issuer",
                "the API accepts the dev issuer's tokens and those of the configured OIDC issuers",
            )
        claims = oidc.verify(token)
        email = oidc.user_email(claims)
        with pool.connection() as conn:
            found = orgs.oidc_identity(conn, email=email, org_roles=oidc.org_roles(claims))
        if found is None:
            raise NotAuthenticated(f"token refused: no chainlake user for {email}")
        return _identity(token, claims, {**found, "iss": issuer})

    def _issuer(self, issuer: str) -> OidcIssuer | None:
        """The configured issuer named `issuer` (known from the configuration: no request)."""
        return next((oidc for oidc in self.oidc if oidc.issuer == issuer), None)


def _identity(token: str, verified: dict[str, Any], claims: dict[str, Any]) -> Identity:
    said: tuple[str, ...] = ("sub", "client_id", "jti", "email")
    detail = {k: verified[k] for k in said if k in verified}  # what the login event records
    return Identity(
        claims=claims,
        issuer=str(verified["iss"]),
        token_sha256=hashlib.sha256(token.encode()).digest(),
        expires_at=datetime.fromtimestamp(int(verified["exp"]), UTC),
        detail=detail,
    )
