"""Who is calling: a bearer JWT from the dev issuer (`.chainlake/dev-issuer/jwks.json`) or from an
OIDC issuer configured by its discovery URL (keys from its JWKS, fetched and refreshed on an
unknown key id). Only asymmetric algorithms are accepted (never `none`, never HS*). An OIDC
token maps to a chainlake user by its e-mail claim. The result is the claims the request's
transaction runs under (`request.jwt.claims`): RLS does the rest."""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from psycopg_pool import ConnectionPool

from chainlake.errors import ChainlakeError
from chainlake.tokens import DEV_ISSUER, verify_dev_token

ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]


class NotAuthenticated(ChainlakeError):
    """401: no credentials, or credentials that do not verify."""


@dataclass
class OidcIssuer:
    discovery_url: str
    audience: str
    email_claim: str = "email"
    issuer: str = ""
    _jwks: jwt.PyJWKClient | None = None

    def discover(self) -> None:
        if self._jwks is not None:
            return
        with urllib.request.urlopen(self.discovery_url, timeout=5) as response:  # noqa: S310
            document = json.loads(response.read())
        self.issuer = document["issuer"]
        self._jwks = jwt.PyJWKClient(document["jwks_uri"], cache_keys=True, timeout=5)

    def verify(self, token: str) -> dict[str, Any]:
        self.discover()
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=ASYMMETRIC,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"token refused: {exc}") from exc
        return claims


@dataclass
class Verifier:
    dev_issuer_dir: Path | None
    oidc: list[OidcIssuer] = field(default_factory=list)

    @classmethod
    def from_environment(cls, home: Path) -> Verifier:
        """The dev issuer under `home`, plus $CHAINLAKE_OIDC_ISSUERS (comma-separated discovery
        URLs) for audience $CHAINLAKE_OIDC_AUDIENCE (default `chainlake`)."""
        audience = os.environ.get("CHAINLAKE_OIDC_AUDIENCE", "chainlake")
        claim = os.environ.get("CHAINLAKE_OIDC_EMAIL_CLAIM", "email")
        urls = [u.strip() for u in os.environ.get("CHAINLAKE_OIDC_ISSUERS", "").split(",")]
        return cls(home / "dev-issuer", [OidcIssuer(u, audience, claim) for u in urls if u])

    def claims(self, authorization: str | None, pool: ConnectionPool) -> dict[str, Any]:
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
            return {"sub": claims["sub"], "email": claims.get("email"), "iss": issuer}
        for oidc in self.oidc:
            oidc.discover()
            if oidc.issuer == issuer:
                claims = oidc.verify(token)
                return {"sub": self._user_for(claims, oidc, pool), "iss": issuer}
        raise NotAuthenticated("token refused: unknown issuer")

    @staticmethod
    def _user_for(claims: dict[str, Any], oidc: OidcIssuer, pool: ConnectionPool) -> str:
        email = claims.get(oidc.email_claim)
        if not isinstance(email, str):
            raise NotAuthenticated(f"token refused: no {oidc.email_claim!r} claim")
        with pool.connection() as conn:
            row = conn.execute("SELECT core.user_for_email(%s)", (email,)).fetchone()
        if row is None or row[0] is None:
            raise NotAuthenticated(f"token refused: no chainlake user for {email}")
        return str(row[0])
