"""The dev token issuer: a local Ed25519 key under `.chainlake/dev-issuer/`.

`chainlake token --user EMAIL` signs a short-lived JWT whose `sub` is the user's id. The API
verifies it against `jwks.json` beside the key (and, once configured, against OIDC issuers).
Claims carry identity only; roles and memberships are read from tables on every request.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chainlake.errors import PermissionDenied

DEV_ISSUER = "chainlake-dev"
AUDIENCE = "chainlake"
KEY_ID = "chainlake-dev-1"
ALGORITHM = "EdDSA"


def _private_key(issuer_dir: Path) -> Ed25519PrivateKey:
    path = issuer_dir / "private.pem"
    if not path.exists():
        issuer_dir.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": KEY_ID, "alg": ALGORITHM, "use": "sig"})
        (issuer_dir / "jwks.json").write_text(json.dumps({"keys": [jwk]}, indent=2))
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return loaded


def issue_dev_token(
    issuer_dir: Path, user_id: str, email: str, ttl_seconds: int = 3600, now: float | None = None
) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": DEV_ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "email": email,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(
        claims, _private_key(issuer_dir), algorithm=ALGORITHM, headers={"kid": KEY_ID}
    )


def dev_jwks(issuer_dir: Path) -> dict[str, Any]:
    _private_key(issuer_dir)
    loaded: dict[str, Any] = json.loads((issuer_dir / "jwks.json").read_text())
    return loaded


def verify_dev_token(issuer_dir: Path, token: str, now: float | None = None) -> dict[str, Any]:
    """The token's claims, or PermissionDenied naming why it was refused."""
    keys = {k["kid"]: k for k in dev_jwks(issuer_dir)["keys"]}
    try:
        header = jwt.get_unverified_header(token)
        jwk = keys.get(header.get("kid", ""))
        if jwk is None:
            raise PermissionDenied("token refused: unknown key id")
        key = jwt.PyJWK(jwk).key
        # Time is checked below against `now`, so that tests can pass a frozen clock.
        options: jwt.types.Options = {
            "require": ["exp", "iat", "sub", "iss", "aud"],
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=DEV_ISSUER,
            options=options,
        )
    except jwt.PyJWTError as exc:
        raise PermissionDenied(f"token refused: {exc}") from exc
    moment = time.time() if now is None else now
    if not (claims.get("nbf", claims["iat"]) <= moment < claims["exp"]):
        raise PermissionDenied("token refused: expired or not yet valid")
    return claims
