"""Signing in to a chainlake API from anywhere: the API says which OIDC provider it trusts
(`GET /v1/auth/config`: issuer, audience, the CLI's client id), then

- a person signs in by the device authorization flow (RFC 8628): the provider gives a user code
  and a page to enter it on, in any browser; this side polls the token endpoint (at the
  provider's interval, slower on `slow_down`, never past the code's expiry);
- automation signs in with client credentials (its client id and secret).

Tokens are asked for the API's audience (`resource`, RFC 8707). A refresh token, when the
provider issues one, renews an expired access token (`refresh`). Every failure is a LoginFailed
that says what happened and what to do; nothing here prints (the CLI does)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import jwt

from chainlake.client.base import NotSignedIn, bounded_send
from chainlake.client.profiles import Profile, expired
from chainlake.errors import ChainlakeError

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = 15.0  # seconds, each request to the API or the provider, its answer read whole
MAX_ANSWER = 1 << 20  # bytes: a discovery document, a device code or tokens are far smaller
MAX_POLLS = 1_000  # the device code's expiry ends polling first; this bounds it regardless
DEFAULT_INTERVAL = 5  # RFC 8628: when the provider names none
MAX_INTERVAL = 60  # seconds between polls, whatever the provider says
MAX_EXPIRES_IN = 1800  # a sign-in waits at most half an hour for the person to approve
SLOW_DOWN = 5  # RFC 8628 3.5: seconds added to the interval on `slow_down`


class LoginFailed(ChainlakeError):
    """Signing in did not complete; nothing was saved."""

    exit_code = 8


@dataclass(frozen=True)
class AuthSettings:
    """One OIDC provider the API trusts, as `GET /v1/auth/config` lists it."""

    issuer: str
    discovery_url: str
    audience: str
    client_id: str | None  # the CLI's public client (device flow), if the API names one
    scope: str


@dataclass(frozen=True)
class Endpoints:
    token: str
    device_authorization: str | None


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: float | None


def _request(method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
    """One request to the API or the provider, its whole answer read within TIMEOUT seconds
    and MAX_ANSWER bytes."""
    try:
        with httpx.Client(timeout=TIMEOUT) as http:
            request = http.build_request(method, url, **kwargs)
            return bounded_send(http, request, seconds=TIMEOUT, max_bytes=MAX_ANSWER, what=what)
    except httpx.TransportError as exc:
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise LoginFailed(f"cannot reach {what} at {url}: {reason}", "check the address") from exc


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LoginFailed(
            f"{what} answered {response.status_code} without a JSON object: {response.text[:200]!r}"
        )
    return body


def auth_settings(api_url: str, issuer: str | None = None) -> AuthSettings:
    """The provider the API trusts for sign-in (`issuer` picks one when it trusts several)."""
    url = _secure(api_url, "--api").rstrip("/") + "/v1/auth/config"
    response = _request("GET", url, "the chainlake API")
    body = _json(response, f"the chainlake API at {api_url}")
    if response.status_code != 200:
        raise LoginFailed(f"{url} answered {response.status_code}: {body.get('detail')}")
    listed = [
        AuthSettings(
            e["issuer"], e["discovery_url"], e["audience"], e.get("client_id"), e.get("scope", "")
        )
        for e in body.get("issuers", [])
    ]
    if not listed:
        raise LoginFailed(
            f"the chainlake API at {api_url} trusts no OIDC provider: there is nothing to sign "
            "in with",
            "its operator configures one (docs/tenancy.md, single sign-on)",
        )
    chosen = [s for s in listed if issuer in (None, s.issuer)]
    if not chosen:
        raise LoginFailed(
            f"the API does not trust issuer {issuer}", f"it trusts {[s.issuer for s in listed]}"
        )
    return chosen[0]


def endpoints(settings: AuthSettings) -> Endpoints:
    """The provider's token and device authorization endpoints, from its discovery document at
    the issuer's own `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 section
    4), never at an address the API names: the API could point a client's secret or a user's
    refresh token at a token endpoint of its own. Every address is https, or on loopback."""
    url = _secure(settings.issuer, "issuer").rstrip("/") + "/.well-known/openid-configuration"
    response = _request("GET", url, "the OIDC provider")
    document = _json(response, f"the OIDC provider at {url}")
    if document.get("issuer") != settings.issuer or "token_endpoint" not in document:
        raise LoginFailed(f"{url} is not the discovery document of {settings.issuer}")
    device = document.get("device_authorization_endpoint")
    return Endpoints(
        _secure(str(document["token_endpoint"]), "token_endpoint"),
        _secure(str(device), "device_authorization_endpoint") if device else None,
    )


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _secure(url: str, field: str) -> str:
    """`url` if it is https, or http on this machine's loopback (a provider for development)."""
    parsed = httpx.URL(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.host in LOOPBACK):
        return url
    raise LoginFailed(f"{field}: {url!r} is not https; tokens and secrets go over https only")


def start_device_flow(settings: AuthSettings, found: Endpoints) -> DeviceCode:
    """Ask the provider for a user code (RFC 8628 3.1)."""
    if settings.client_id is None or found.device_authorization is None:
        raise LoginFailed(
            f"{settings.issuer} offers no device sign-in for the CLI",
            "sign in with --client-id and --client-secret-file (automation), or ask the "
            "operator to name the CLI's client (cli_client_id, docs/tenancy.md)",
        )
    form = {"client_id": settings.client_id, "scope": settings.scope, "resource": settings.audience}
    response = _request("POST", found.device_authorization, "the OIDC provider", data=form)
    body = _json(response, "the device authorization endpoint")
    if response.status_code != 200:
        raise LoginFailed(f"the provider refused the device sign-in: {_oauth_error(body)}")
    return DeviceCode(
        body["device_code"],
        body["user_code"],
        body["verification_uri"],
        body.get("verification_uri_complete"),
        _seconds(body, "expires_in", 600, 1, MAX_EXPIRES_IN),
        _seconds(body, "interval", DEFAULT_INTERVAL, 1, MAX_INTERVAL),
    )


def _seconds(body: dict[str, Any], field: str, default: int, least: int, most: int) -> int:
    """A duration the provider names, within what a sign-in may take (RFC 8628 3.2)."""
    value = body.get(field, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not least <= value:
        raise LoginFailed(f"the provider's device code has a nonsense {field}: {value!r}")
    return int(min(value, most))


def poll_device_flow(
    settings: AuthSettings,
    found: Endpoints,
    code: DeviceCode,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Tokens:
    """Poll the token endpoint until the user approved (RFC 8628 3.4, 3.5): `interval` seconds
    apart, 5 more after each `slow_down`, until the code expires or MAX_POLLS."""
    assert settings.client_id is not None
    deadline = clock() + code.expires_in
    interval = code.interval
    form = {
        "grant_type": DEVICE_GRANT,
        "device_code": code.device_code,
        "client_id": settings.client_id,
        "resource": settings.audience,
    }
    for _ in range(MAX_POLLS):
        if clock() + interval > deadline:
            break
        sleep(interval)
        response = _request("POST", found.token, "the OIDC provider", data=form)
        body = _json(response, "the token endpoint")
        if response.status_code == 200:
            return _tokens(body)
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN
            continue
        if error == "access_denied":
            raise LoginFailed("sign-in was denied at the provider; nothing was saved")
        if error == "expired_token":
            break
        raise LoginFailed(f"the provider refused the sign-in: {_oauth_error(body)}")
    raise LoginFailed(
        f"the code {code.user_code} expired before it was approved; nothing was saved",
        "run `chainlake login` again and approve the new code within its time",
    )


def client_credentials(
    token_endpoint: str, client_id: str, secret: str, audience: str, scope: str = ""
) -> Tokens:
    """An access token for a client (automation) from its id and secret."""
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "resource": audience,
    }
    if scope:
        form["scope"] = scope
    response = _request("POST", token_endpoint, "the OIDC provider", data=form)
    body = _json(response, "the token endpoint")
    if response.status_code != 200:
        raise LoginFailed(f"the provider refused client {client_id}: {_oauth_error(body)}")
    return _tokens(body)


def refresh(profile: Profile) -> Tokens:
    """New tokens for a profile from its refresh token; NotSignedIn when the provider refuses."""
    assert profile.refresh_token is not None
    form = {
        "grant_type": "refresh_token",
        "refresh_token": profile.refresh_token,
        "client_id": profile.client_id,
        "resource": profile.audience,
    }
    try:
        response = _request("POST", profile.token_endpoint, "the OIDC provider", data=form)
    except LoginFailed as exc:
        raise NotSignedIn(exc.message, exc.hint) from exc
    body = _json(response, "the token endpoint")
    if response.status_code != 200:
        raise expired(profile.name, f"the provider refused the refresh: {_oauth_error(body)}")
    tokens = _tokens(body)
    return Tokens(
        tokens.access_token, tokens.refresh_token or profile.refresh_token, tokens.expires_at
    )


def _tokens(body: dict[str, Any]) -> Tokens:
    access = body.get("access_token")
    if not isinstance(access, str):
        raise LoginFailed("the provider answered without an access token")
    lifetime = body.get("expires_in")
    expires_at = time.time() + float(lifetime) if isinstance(lifetime, int | float) else None
    if expires_at is None:  # a JWT says when it expires
        try:
            exp = jwt.decode(access, options={"verify_signature": False}).get("exp")
            expires_at = float(exp) if isinstance(exp, int | float) else None
        except jwt.PyJWTError:
            expires_at = None
    return Tokens(access, body.get("refresh_token"), expires_at)


def _oauth_error(body: dict[str, Any]) -> str:
    error = body.get("error", "error")
    described = body.get("error_description")
    return f"{error} ({described})" if described else str(error)


def read_secret(file: str | None, env: str | None) -> str:
    """A client secret from its file (first line) or environment variable."""
    if file:
        try:
            secret = Path(file).read_text().strip()
        except OSError as exc:
            raise LoginFailed(f"cannot read the client secret file {file}: {exc}") from exc
    else:
        secret = os.environ.get(env or "", "").strip()
    if not secret:
        where = file or f"${env}"
        raise LoginFailed(f"no client secret in {where}", "pass --client-secret-file or set it")
    return secret


def renew(profile: Profile) -> Profile:
    """The profile with a fresh access token: refreshed, or a new client-credentials token."""
    if profile.grant == "client_credentials":
        try:
            secret = read_secret(profile.client_secret_file, profile.client_secret_env)
            tokens = client_credentials(
                profile.token_endpoint, profile.client_id, secret, profile.audience, profile.scope
            )
        except LoginFailed as exc:
            raise expired(profile.name, exc.message) from exc
    elif profile.refresh_token is not None:
        tokens = refresh(profile)
    else:
        raise expired(profile.name)
    return replace(
        profile,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
    )
