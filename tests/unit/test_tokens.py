"""The dev issuer's tokens: accepted when valid, refused with the reason otherwise."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jwt
import pytest

from chainlake.errors import PermissionDenied
from chainlake.tokens import issue_dev_token, verify_dev_token

NOW = 1_800_000_000.0
USER = "7e346215-1439-4b6d-975b-d13280d1087d"


def test_a_token_round_trips(tmp_path: Path) -> None:
    token = issue_dev_token(tmp_path, USER, "ann@acme.example", 600, now=NOW)
    claims = verify_dev_token(tmp_path, token, now=NOW + 10)
    assert claims["sub"] == USER and claims["email"] == "ann@acme.example"
    assert (tmp_path / "private.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("offset", "reason"), [(601, "expired"), (-5, "not yet valid")])
def test_expired_and_future_tokens_are_refused(tmp_path: Path, offset: float, reason: str) -> None:
    token = issue_dev_token(tmp_path, USER, "ann@acme.example", 600, now=NOW)
    with pytest.raises(PermissionDenied, match=reason):
        verify_dev_token(tmp_path, token, now=NOW + offset)


def test_a_token_from_another_key_is_refused(tmp_path: Path) -> None:
    other = issue_dev_token(tmp_path / "other", USER, "ann@acme.example", 600, now=NOW)
    issue_dev_token(tmp_path / "mine", USER, "x@y.example", 600, now=NOW)
    with pytest.raises(PermissionDenied, match="Signature verification failed"):
        verify_dev_token(tmp_path / "mine", other, now=NOW)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_and_unknown_key_ids_are_refused(tmp_path: Path) -> None:
    good = issue_dev_token(tmp_path, USER, "ann@acme.example", 600, now=NOW)
    payload = good.split(".")[1]
    unsigned = f"{_b64({'alg': 'none', 'kid': 'chainlake-dev-1'})}.{payload}."
    with pytest.raises(PermissionDenied):
        verify_dev_token(tmp_path, unsigned, now=NOW)
    unknown = jwt.encode({"sub": USER}, "s" * 32, algorithm="HS256", headers={"kid": "nope"})
    with pytest.raises(PermissionDenied, match="unknown key id"):
        verify_dev_token(tmp_path, unknown, now=NOW)


def test_a_tampered_payload_is_refused(tmp_path: Path) -> None:
    header, _, signature = issue_dev_token(tmp_path, USER, "a@b.example", 600, now=NOW).split(".")
    forged = _b64(
        {
            "iss": "chainlake-dev",
            "aud": "chainlake",
            "sub": "someone-else",
            "iat": int(NOW),
            "exp": int(NOW) + 600,
        }
    )
    with pytest.raises(PermissionDenied):
        verify_dev_token(tmp_path, f"{header}.{forged}.{signature}", now=NOW)


def test_a_checked_token_is_refused_once_its_key_is_replaced(tmp_path: Path) -> None:
    """Signatures already checked are remembered (chainlake.tokens.SignatureCache), never past
    the key that checked them: a new key under the same key id refuses the old token at once."""
    old = issue_dev_token(tmp_path, USER, "ann@acme.example", 600, now=NOW)
    assert verify_dev_token(tmp_path, old, now=NOW)["sub"] == USER
    assert verify_dev_token(tmp_path, old, now=NOW + 1)["sub"] == USER  # the remembered check
    (tmp_path / "private.pem").unlink()
    (tmp_path / "jwks.json").unlink()
    new = issue_dev_token(tmp_path, USER, "ann@acme.example", 600, now=NOW)  # a new key, same id
    assert verify_dev_token(tmp_path, new, now=NOW + 2)["sub"] == USER
    with pytest.raises(PermissionDenied, match="Signature verification failed"):
        verify_dev_token(tmp_path, old, now=NOW + 2)


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    token = issue_dev_token(tmp_path, USER, "ann@acme.example", 600, now=NOW)
    assert verify_dev_token(tmp_path, token, now=NOW + 10)["sub"] == USER
    with pytest.raises(PermissionDenied, match="expired"):
        verify_dev_token(tmp_path, token, now=NOW + 601)
