"""The dev token issuer: a local Ed25519 key under `.chainlake/dev-issuer/`.

`chainlake token --user EMAIL` signs a short-lived JWT whose `sub` is the user's id. The API
verifies it against `jwks.json` beside the key (and, once configured, against OIDC issuers).
Claims carry identity only; roles and memberships are read from tables on every request.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Checked:
    claims: dict[str, Any]
    key: object  # the key object the signature was checked with
    not_after: float


class SignatureCache:
    """Tokens whose signature has been checked, with the key object that checked it: a token seen
    again skips the signature math (a tenth of a millisecond) as long as the same key object is
    still the one its key id names, and its time has not run out. Replacing keys (a JWKS refresh,
    a new jwks.json) makes new key objects, so nothing verified by a retired key is reused."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._checked: dict[str, _Checked] = {}
        self._lock = threading.Lock()

    def claims(self, token: str, key: object, now: float) -> dict[str, Any] | None:
        found = self._checked.get(token)
        if found is None or found.key is not key or now >= found.not_after:
            return None
        return copy.deepcopy(found.claims)  # a caller's change never reaches the next request

    def remember(self, token: str, key: object, claims: dict[str, Any], not_after: float) -> None:
        with self._lock:
            if len(self._checked) >= self.capacity:
                now = time.time()
                self._checked = {t: c for t, c in self._checked.items() if c.not_after > now}
                if len(self._checked) >= self.capacity:
                    self._checked.clear()
            self._checked[token] = _Checked(copy.deepcopy(claims), key, not_after)


_dev_signatures = SignatureCache()
_published: dict[Path, tuple[bytes, dict[str, jwt.PyJWK]]] = {}


def _published_keys(issuer_dir: Path) -> dict[str, jwt.PyJWK]:
    """The dev issuer's public keys by key id, parsed again only when `jwks.json` changes (the
    file is read each time, a few microseconds: a new file retires its keys at once, where a
    modification time can miss a rewrite within the same clock tick)."""
    path = issuer_dir / "jwks.json"
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        dev_jwks(issuer_dir)  # the first use of an issuer directory makes its key
        content = path.read_bytes()
    known = _published.get(path)
    if known is not None and known[0] == content:
        return known[1]
    keys = {k["kid"]: jwt.PyJWK(k) for k in json.loads(content)["keys"]}
    _published[path] = (content, keys)
    return keys


def verify_dev_token(issuer_dir: Path, token: str, now: float | None = None) -> dict[str, Any]:
    """The token's claims, or PermissionDenied naming why it was refused."""
    keys = _published_keys(issuer_dir)
    try:
        header = jwt.get_unverified_header(token)
        jwk = keys.get(header.get("kid", ""))
        if jwk is None:
            raise PermissionDenied("token refused: unknown key id")
        moment = time.time() if now is None else now
        claims = _dev_signatures.claims(token, jwk, moment)
        if claims is None:
            # Time is checked below against `now`, so that tests can pass a frozen clock.
            options: jwt.types.Options = {
                "require": ["exp", "iat", "sub", "iss", "aud"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            }
            claims = jwt.decode(
                token,
                jwk.key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=DEV_ISSUER,
                options=options,
            )
            _dev_signatures.remember(token, jwk, claims, float(claims["exp"]))
    except jwt.PyJWTError as exc:
        raise PermissionDenied(f"token refused: {exc}") from exc
    if not (claims.get("nbf", claims["iat"]) <= moment < claims["exp"]):
        raise PermissionDenied("token refused: expired or not yet valid")
    return claims
