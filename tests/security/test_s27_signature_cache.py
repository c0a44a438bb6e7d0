"""Issue 17's remembered signature checks (chainlake/tokens.py SignatureCache), attacked.

Finding: the first verification of a token hands its caller the very dict the cache keeps, so a
caller that changes its claims (adds a default, narrows an org, pops a field) changes what every
later request with the same token is verified as, without any signature check; and the copies
handed out later are shallow, so nested claims (lists, objects) are shared between requests.

What holds (tested here too): a junk or tampered token is never remembered; a remembered token
still expires; the cache is bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainlake import tokens
from chainlake.errors import PermissionDenied
from chainlake.tokens import SignatureCache, issue_dev_token, verify_dev_token

NOW = 1_800_000_000.0
USER = "7e346215-1439-4b6d-975b-d13280d1087d"
OTHER = "0b1d7f4e-0000-4000-8000-000000000000"


def test_changing_the_claims_one_request_got_changes_nothing_for_the_next(
    tmp_path: Path,
) -> None:
    token = issue_dev_token(tmp_path, USER, "ann@acme.example", 600, now=NOW)
    first = verify_dev_token(tmp_path, token, now=NOW)
    first["sub"] = OTHER  # a caller's own bookkeeping on "its" dict
    assert verify_dev_token(tmp_path, token, now=NOW + 1)["sub"] == USER


def test_nested_claims_are_not_shared_between_requests() -> None:
    cache = SignatureCache()
    key = object()
    cache.remember("t", key, {"sub": USER, "orgs": ["a"]}, NOW + 600)
    got = cache.claims("t", key, NOW)
    assert got is not None
    got["orgs"].append("b")
    again = cache.claims("t", key, NOW)
    assert again is not None and again["orgs"] == ["a"]


def test_tampered_tokens_are_never_remembered(tmp_path: Path) -> None:
    """Holds: a token whose signature does not verify is refused every time and leaves nothing
    in the cache (junk cannot grow it)."""
    token = issue_dev_token(tmp_path, USER, "ann@acme.example", 600, now=NOW)
    header, payload, signature = token.split(".")
    bad = f"{header}.{payload}.{signature[:-4]}AAAA"
    before = len(tokens._dev_signatures._checked)
    for _ in range(3):
        with pytest.raises(PermissionDenied):
            verify_dev_token(tmp_path, bad, now=NOW)
    assert len(tokens._dev_signatures._checked) == before


def test_the_cache_stays_bounded() -> None:
    """Holds: past its capacity it drops what expired, else everything."""
    cache = SignatureCache(capacity=3)
    key = object()
    for i in range(10):
        cache.remember(f"t{i}", key, {"sub": USER}, 2**40)
        assert len(cache._checked) <= 3
