"""Secrets at rest: encrypted with a key that Postgres never sees (Fernet: AES-128-CBC with an
HMAC-SHA256). The keys come from $CHAINLAKE_SECRET_KEY (comma-separated), else
`.chainlake/secret.key` (one a line; made on first use, mode 0600).

Several keys rotate (MultiFernet): the first encrypts, every one decrypts. `chainlake secret
rotate-key` puts a new key first in the key file and re-encrypts every stored secret with it
(`reencrypt_all`); `--retire` then drops the old keys (docs/operations.md)."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from chainlake.errors import ChainlakeError, InvalidInput


# Every encrypted column: (table, column).
def key_path(home: Path) -> Path:
    return home / "secret.key"


def load_key(home: Path) -> bytes:
    """The platform's keys, newest first, as one value for encrypt and decrypt."""
    env = os.environ.get("CHAINLAKE_SECRET_KEY")
    if env:
        return env.encode()
    path = key_path(home)
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(Fernet.generate_key())
    return path.read_bytes().strip()


def keys_of(key: bytes) -> list[bytes]:
    """The keys in one value (comma- or line-separated), first the one that encrypts."""
    keys = [k.strip() for k in key.replace(b"\n", b",").split(b",") if k.strip()]
    if not keys:
        raise InvalidInput("no secret key", "set CHAINLAKE_SECRET_KEY or .chainlake/secret.key")
    return keys


def _fernet(key: bytes) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k) for k in keys_of(key)])
    except ValueError as exc:
        raise InvalidInput(
            "a secret key is not a Fernet key (32 url-safe base64-encoded bytes)",
            "make one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`",
        ) from exc


def encrypt(key: bytes, value: str) -> bytes:
    return _fernet(key).encrypt(value.encode())


def decrypt(key: bytes, token: bytes) -> str:
    try:
        return _fernet(key).decrypt(token).decode()
    except InvalidToken as exc:
        raise ChainlakeError(
            "a stored secret does not decrypt with this key",
            "is CHAINLAKE_SECRET_KEY the key it was stored with?",
        ) from exc


def add_key_to_file(home: Path) -> bytes:
    """A new key first in the key file (the old ones kept after it, still decrypting); the
    file's keys, as load_key reads them."""
    old = keys_of(load_key(home))
    _write_keys(key_path(home), [Fernet.generate_key(), *old])
    return load_key(home)


def retire_old_keys(home: Path) -> None:
    """Keep only the first key in the key file (after reencrypt_all)."""
    _write_keys(key_path(home), keys_of(load_key(home))[:1])


def _write_keys(path: Path, keys: list[bytes]) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(b"\n".join(keys) + b"\n")
    os.replace(tmp, path)


@dataclass
class Rotation:
    """What `reencrypt_all` did: values rewrapped with the new key, and values no key decrypts
    (kind, org, name), left as they are for their org to set again."""

    changed: int = 0
    undecryptable: list[tuple[str, str, str]] = field(default_factory=list)


def reencrypt_all(conn: psycopg.Connection[Any], key: bytes) -> Rotation:
    """Re-encrypt every stored secret with the first of `key`'s keys, in one transaction, as
    the operator (`conn`). A value no key decrypts (one org's junk) is skipped and reported,
    never a stop for everyone's rotation."""
    fernet = _fernet(key)
    done = Rotation()
    with conn.transaction():
        rows = conn.execute(
            "SELECT kind, org_id, org, name, value FROM core.encrypted_values()"
        ).fetchall()
        for kind, org_id, org, name, stored in rows:
            try:
                fresh = fernet.rotate(bytes(stored))
            except InvalidToken:
                done.undecryptable.append((kind, org, name))
                continue
            conn.execute(
                "SELECT core.rewrap_encrypted(%s, %s, %s, %s, %s)",
                (kind, org_id, name, bytes(stored), fresh),
            )
            done.changed += 1
    return done


def signature(secret: str, timestamp: str, delivery: str, body: bytes) -> str:
    """The webhook signature both ways (job activation in, alerts out): HMAC-SHA256 over
    `timestamp.delivery.body` (X-Chainlake-Timestamp, X-Chainlake-Delivery, the raw body), as
    `sha256=<hex>` in X-Chainlake-Signature. A replay under another delivery id does not verify."""
    signed = f"{timestamp}.{delivery}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
