"""Secrets at rest: encrypted with a key that Postgres never sees (Fernet: AES-128-CBC with an
HMAC-SHA256). The key comes from $CHAINLAKE_SECRET_KEY, else `.chainlake/secret.key` (made on
first use, mode 0600)."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from chainlake.errors import ChainlakeError


def load_key(home: Path) -> bytes:
    env = os.environ.get("CHAINLAKE_SECRET_KEY")
    if env:
        return env.encode()
    path = home / "secret.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(Fernet.generate_key())
    return path.read_bytes().strip()


def encrypt(key: bytes, value: str) -> bytes:
    return Fernet(key).encrypt(value.encode())


def decrypt(key: bytes, token: bytes) -> str:
    try:
        return Fernet(key).decrypt(token).decode()
    except InvalidToken as exc:
        raise ChainlakeError(
            "a stored secret does not decrypt with this key",
            "is CHAINLAKE_SECRET_KEY the key it was stored with?",
        ) from exc


def signature(secret: str, timestamp: str, delivery: str, body: bytes) -> str:
    """The webhook signature both ways (job activation in, alerts out): HMAC-SHA256 over
    `timestamp.delivery.body` (X-Chainlake-Timestamp, X-Chainlake-Delivery, the raw body), as
    `sha256=<hex>` in X-Chainlake-Signature. A replay under another delivery id does not verify."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
