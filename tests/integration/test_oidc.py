"""Single sign-on against a real OIDC provider (npm `oidc-provider` on 127.0.0.1): discovery,
JWKS and its rotation, client-credentials JWTs mapped to a user, org and role by configuration,
every refused-token case, and each token's first request audited as a login (issue 8, item 3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization

from api.auth import OidcIssuer, Verifier, load_oidc_config
from chainlake.errors import InvalidInput
from tests.integration.conftest import send, serve_api
from tests.oidc import AUDIENCE, Client, Issuer, rsa_jwk
from tests.tenants import Tenants

OTHER_AUDIENCE = "urn:other:api"
BOT = "bot@svc.example"


@pytest.fixture
def clients() -> dict[str, Client]:
    return {
        "viewer": Client("ci-viewer", {"org": "a", "role": "viewer"}),
        "editor": Client("ci-editor", {"org": ["a", "b"], "role": "editor"}),
        "stranger": Client("ci-stranger", {"org": "a", "role": "editor"}),  # maps to no user
        "no-role": Client("ci-no-role", {"org": "a"}),
    }


@pytest.fixture
def issuer(tmp_path: Path, clients: dict[str, Client]) -> Iterator[Issuer]:
    provider = Issuer(tmp_path, list(clients.values()), {AUDIENCE: 300, OTHER_AUDIENCE: 300})
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def bot(tenants: Tenants, admin: psycopg.Connection[Any]) -> str:
    """A service user, admin of org a (tokens narrow it) and of org b; created once per database."""
    admin.execute(
        "SELECT core.create_user(%s, 'a', 'admin') WHERE NOT EXISTS "
        "(SELECT 1 FROM core.users WHERE email = %s)",
        (BOT, BOT),
    )
    row = admin.execute("SELECT id FROM core.users WHERE email = %s", (BOT,)).fetchone()
    assert row is not None
    admin.execute(
        "INSERT INTO core.memberships (org_id, user_id, role) "
        "SELECT id, %s, 'admin' FROM core.orgs WHERE name IN ('a', 'b') "
        "ON CONFLICT (org_id, user_id) DO UPDATE SET role = 'admin'",
        (row[0],),
    )
    return str(row[0])


def configured(issuer: Issuer, **overrides: Any) -> OidcIssuer:
    settings: dict[str, Any] = {
        "discovery_url": issuer.discovery_url,
        "audience": AUDIENCE,
        "clients": {"ci-viewer": BOT, "ci-editor": BOT, "ci-no-role": BOT},
        "org_claim": "org",
        "role_claim": "role",
        "roles": {"viewer": "reader", "editor": "writer"},
        "jwks_min_refresh_seconds": 0,
        **overrides,
    }
    return OidcIssuer.from_config(settings)


@pytest.fixture
def api(tenants: Tenants, tmp_path: Path, issuer: Issuer) -> Iterator[str]:
    verifier = Verifier(tmp_path / "home" / "dev-issuer", [configured(issuer)])
    with serve_api(tenants, tmp_path, verifier) as url:
        yield url


def logins(admin: psycopg.Connection[Any], user_id: str) -> list[tuple[Any, ...]]:
    return admin.execute(
        "SELECT o.name, e.target, e.detail ->> 'sub' FROM audit.events e "
        "LEFT JOIN core.orgs o ON o.id = e.org_id "
        "WHERE e.action = 'auth.login' AND e.actor_user_id = %s ORDER BY e.id",
        (user_id,),
    ).fetchall()


def test_a_client_credentials_token_maps_to_its_user_org_and_role(
    api: str,
    issuer: Issuer,
    clients: dict[str, Client],
    bot: str,
    admin: psycopg.Connection[Any],
) -> None:
    """The provider's own token works; the token's org and role narrow the user's memberships
    (admin of a and b, acting as a reader of a only), and writing is refused."""
    token = issuer.token(clients["viewer"])
    assert jwt.get_unverified_header(token)["kid"] == issuer.kid
    status, body = send(api, "GET", "/v1/whoami", token)
    assert status == 200, body
    assert [(m["org"], m["role"]) for m in body["memberships"]] == [("a", "reader")]
    status, body = send(
        api,
        "POST",
        "/v1/saved-queries/a",
        token,
        {"name": "q", "sql": "SELECT 1", "visibility": "org"},
    )
    assert status == 403, body

    editor = issuer.token(clients["editor"])
    status, body = send(api, "GET", "/v1/whoami", editor)
    assert [(m["org"], m["role"]) for m in body["memberships"]] == [
        ("a", "writer"),
        ("b", "writer"),
    ]


def test_each_tokens_first_request_is_one_login_in_each_org_it_acts_in(
    api: str, issuer: Issuer, clients: dict[str, Client], bot: str, admin: psycopg.Connection[Any]
) -> None:
    before = logins(admin, bot)
    token = issuer.token(clients["viewer"])
    for _ in range(3):
        assert send(api, "GET", "/v1/whoami", token)[0] == 200
    assert logins(admin, bot)[len(before) :] == [("a", issuer.url, "ci-viewer")]
    editor = issuer.token(clients["editor"])
    assert send(api, "GET", "/v1/datasets", editor)[0] == 200
    assert sorted(logins(admin, bot)[len(before) + 1 :]) == [
        ("a", issuer.url, "ci-editor"),
        ("b", issuer.url, "ci-editor"),
    ]
    stored = admin.execute(
        "SELECT count(*) FROM core.sign_ins WHERE token_sha256 = %s",
        (hashlib.sha256(token.encode()).digest(),),
    ).fetchone()
    assert stored == (1,)  # the token itself is never stored


def _forged_claims(issuer: Issuer, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": issuer.url,
        "aud": AUDIENCE,
        "sub": "ci-viewer",
        "client_id": "ci-viewer",
        "org": "a",
        "role": "viewer",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(changes)
    return claims


def _person(issuer: Issuer, **claims: Any) -> dict[str, Any]:
    """A person's token (not a client's): the user is the one with its e-mail."""
    person = _forged_claims(issuer, sub="person-7", email=BOT, **claims)
    del person["client_id"]
    return person


def _unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def _hs256_with_public_key(issuer: Issuer, claims: dict[str, Any]) -> str:
    """The classic confusion attack: HMAC keyed with the provider's published public key."""
    public = issuer.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _unsigned(claims, {"alg": "HS256", "typ": "JWT", "kid": issuer.kid})[:-1]
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def test_every_refused_token_case_is_a_401_that_names_why(
    api: str,
    issuer: Issuer,
    clients: dict[str, Client],
    bot: str,
    tmp_path: Path,
    admin: psycopg.Connection[Any],
) -> None:
    other = Issuer(tmp_path / "other", [clients["viewer"]], {AUDIENCE: 300})
    (tmp_path / "other").mkdir()
    other.start()
    try:
        foreign = other.token(clients["viewer"])  # a real token of a provider nobody configured
    finally:
        other.stop()
    _, stranger_jwk = rsa_jwk("stranger")
    now = int(time.time())
    cases = {
        "expired": (issuer.sign(_forged_claims(issuer, iat=now - 900, exp=now - 600)), "expired"),
        "not yet valid": (
            issuer.sign(_forged_claims(issuer, nbf=now + 600, exp=now + 900)),
            "not yet valid",
        ),
        "wrong issuer": (foreign, "unknown issuer"),
        "wrong audience": (
            issuer.token(clients["viewer"], OTHER_AUDIENCE),
            f"its audience is not '{AUDIENCE}'",
        ),
        "unknown key id": (
            jwt.encode(
                _forged_claims(issuer),
                jwt.PyJWK(stranger_jwk).key,
                algorithm="RS256",
                headers={"kid": "stranger"},
            ),
            "unknown key id",
        ),
        "alg none": (_unsigned(_forged_claims(issuer), {"alg": "none", "typ": "JWT"}), "'none'"),
        "HS256 with the public key": (
            _hs256_with_public_key(issuer, _forged_claims(issuer)),
            "'HS256' is not accepted",
        ),
        "a client mapped to no user": (issuer.token(clients["stranger"]), "ci-stranger"),
        "a role claim that maps to no role": (issuer.token(clients["no-role"]), "'role' claim"),
        "a wrong signature": (issuer.token(clients["viewer"])[:-4] + "AAAA", "Signature"),
        "an e-mail the provider has not verified": (
            issuer.sign(_person(issuer, email_verified=False)),
            "'email' is not verified",
        ),
        "an e-mail with no verification claim": (issuer.sign(_person(issuer)), "not verified"),
    }
    before = logins(admin, bot)
    for case, (token, reason) in cases.items():
        status, body = send(api, "GET", "/v1/whoami", token)
        assert status == 401, (case, body)
        assert reason in json.dumps(body), (case, body)
    assert logins(admin, bot) == before  # a refused token signs nobody in
    # and the good tokens of the same provider still work: a client's, and a person's
    assert send(api, "GET", "/v1/whoami", issuer.token(clients["viewer"]))[0] == 200
    person = issuer.sign(_person(issuer, email_verified=True))
    status, body = send(api, "GET", "/v1/whoami", person)
    assert status == 200 and {m["org"] for m in body["memberships"]} == {"a"}, body


def test_a_rotated_key_is_fetched_and_a_retired_key_stops_working(
    tenants: Tenants, tmp_path: Path, issuer: Issuer, clients: dict[str, Client], bot: str
) -> None:
    verifier = Verifier(None, [configured(issuer, jwks_max_age_seconds=1)])
    with serve_api(tenants, tmp_path, verifier) as url:
        old = issuer.token(clients["viewer"])
        assert send(url, "GET", "/v1/whoami", old)[0] == 200
        old_kid = issuer.kid

        issuer.rotate(keep_old=True)  # the provider now signs with a new key, still publishes both
        new = issuer.token(clients["viewer"])
        assert jwt.get_unverified_header(new)["kid"] != old_kid
        assert send(url, "GET", "/v1/whoami", new)[0] == 200  # fetched on its unknown key id
        assert send(url, "GET", "/v1/whoami", old)[0] == 200

        issuer.rotate(keep_old=False)  # the old keys are retired
        time.sleep(1.5)  # past jwks_max_age_seconds: the next token check fetches the JWKS again
        status, body = send(url, "GET", "/v1/whoami", old)
        assert status == 401 and "unknown key id" in body["detail"], body
        assert send(url, "GET", "/v1/whoami", issuer.token(clients["viewer"]))[0] == 200


def test_a_removed_membership_beats_the_token(
    api: str, issuer: Issuer, clients: dict[str, Client], bot: str, admin: psycopg.Connection[Any]
) -> None:
    """The token still says org b, writer; the membership is gone, so org b is gone."""
    token = issuer.token(clients["editor"])
    assert len(send(api, "GET", "/v1/whoami", token)[1]["memberships"]) == 2
    admin.execute(
        "DELETE FROM core.memberships WHERE user_id = %s AND org_id = (SELECT id FROM core.orgs "
        "WHERE name = 'b')",
        (bot,),
    )
    status, body = send(api, "GET", "/v1/whoami", token)
    assert status == 200
    assert [(m["org"], m["role"]) for m in body["memberships"]] == [("a", "writer")]


def test_a_bad_configuration_is_refused_with_what_to_fix(tmp_path: Path) -> None:
    config = tmp_path / "oidc.yaml"
    config.write_text("issuers:\n  - discovery_url: http://127.0.0.1:1/x\n    audiance: api\n")
    with pytest.raises(InvalidInput) as refused:
        load_oidc_config(config)
    assert "needs discovery_url and audience" in refused.value.message
    assert "audiance" in refused.value.message
    config.write_text(
        "issuers:\n  - discovery_url: http://127.0.0.1:1/x\n    audience: api\n"
        "    roles: {viewer: superuser}\n"
    )
    with pytest.raises(InvalidInput, match="unknown roles"):
        load_oidc_config(config)
