"""GET /v1/auth/config: how to sign in to this API, asked before one has a token (by
`chainlake login`): each OIDC provider it trusts, the audience its tokens must name, and the
provider's public client for the CLI's device sign-in. Nothing here is secret: a provider's
discovery document is public, and so is a public client's id."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import get

from api.auth import Verifier
from api.session import Req


@dataclass
class IssuerSettings:
    issuer: str  # the `iss` of its tokens
    discovery_url: str  # its OpenID configuration (token and device endpoints)
    audience: str  # the resource to ask tokens for
    client_id: str | None  # its public client for `chainlake login` (device flow), if any
    scope: str  # the scopes that client asks for


@dataclass
class AuthConfig:
    issuers: list[IssuerSettings]


@get("/v1/auth/config", operation_id="authConfig", sync_to_thread=False)
def auth_config(request: Req) -> AuthConfig:
    """The OIDC providers this API trusts, for signing in (no token needed)."""
    verifier: Verifier = request.app.state.verifier
    return AuthConfig(
        [
            IssuerSettings(o.issuer, o.discovery_url, o.audience, o.cli_client_id, o.cli_scope)
            for o in verifier.oidc
        ]
    )


HANDLERS = [auth_config]
