"""Profiles on disk: where they live, who may read them, and that a bad file or name is refused
with what to do, changing nothing."""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from chainlake.client.base import NotSignedIn
from chainlake.client.profiles import Profile, Profiles, config_dir, selected, token_provider
from chainlake.errors import InvalidInput, NotFound


def _profile(name: str, **fields: object) -> Profile:
    settings: dict[str, object] = {
        "api_url": "http://127.0.0.1:1",
        "issuer": "http://127.0.0.1:2",
        "token_endpoint": "http://127.0.0.1:2/token",
        "audience": "urn:chainlake:api",
        "client_id": "chainlake-cli",
        "grant": "device",
        "access_token": "token-1",
        **fields,
    }
    return Profile(name, **settings)  # type: ignore[arg-type]


def test_the_file_is_private_and_replaced_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    old_umask = os.umask(0)  # even a permissive umask leaves nothing readable by others
    try:
        store = Profiles.load()
        store.put(_profile("work"))
        store.save()
    finally:
        os.umask(old_umask)
    path = config_dir() / "profiles.json"
    assert path == tmp_path / "xdg" / "chainlake" / "profiles.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["profiles.json"], "no temporary left"
    again = Profiles.load()
    assert again.default == "work" and again.get("work").access_token == "token-1"


def test_which_profile_is_in_effect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "profiles.json"
    monkeypatch.delenv("CHAINLAKE_PROFILE", raising=False)
    assert selected(None, path) is None, "no file: the local CLI"
    store = Profiles.load(path)
    store.put(_profile("work"))
    store.put(_profile("ci"))
    store.save()
    assert selected(None, path) == "work", "the first one is the default"
    monkeypatch.setenv("CHAINLAKE_PROFILE", "ci")
    assert selected(None, path) == "ci"
    assert selected("work", path) == "work", "--profile beats the environment"
    assert selected("local", path) is None
    store.use("local")
    store.save()
    monkeypatch.delenv("CHAINLAKE_PROFILE")
    assert selected(None, path) is None


def test_bad_files_and_names_are_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text("{not json")
    with pytest.raises(InvalidInput, match="cannot read the profiles") as bad:
        Profiles.load(path)
    assert bad.value.hint and "chainlake login" in bad.value.hint
    assert path.read_text() == "{not json", "left as it was"
    store = Profiles(path)
    for name in ("local", "a/b", "", "x y"):
        with pytest.raises(InvalidInput, match="profile name"):
            store.put(_profile(name))
    with pytest.raises(NotFound, match="no profile 'nope'"):
        store.use("nope")
    assert store.profiles == {} and store.default is None


def test_a_signed_out_or_expired_profile_says_how_to_sign_in(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    store = Profiles(path)
    store.put(_profile("out", access_token=None))
    store.put(_profile("old", expires_at=100.0))
    store.save()

    def never(profile: Profile) -> Profile:
        raise AssertionError("no refresh token: nothing to renew with")

    with pytest.raises(NotSignedIn, match="signed out of out: run `chainlake login --profile out`"):
        token_provider("out", never, path)()
    with pytest.raises(NotSignedIn, match="session for old expired: run `chainlake login"):
        token_provider("old", never, path, now=lambda: 1000.0)()
    assert token_provider("old", never, path, now=lambda: 10.0)() == "token-1", "still valid"


def test_two_clis_renewing_at_once_renew_once(tmp_path: Path) -> None:
    """A refresh token may be used once: of two processes finding the token expired, one
    renews it and the other takes the renewed one."""
    path = tmp_path / "profiles.json"
    store = Profiles(path)
    store.put(_profile("work", expires_at=100.0, refresh_token="r1"))
    store.save()
    renewals: list[str] = []

    def renew(profile: Profile) -> Profile:
        renewals.append(str(profile.refresh_token))
        time.sleep(0.2)  # the other one arrives meanwhile
        return replace(profile, access_token="token-2", refresh_token="r2", expires_at=5000.0)

    tokens: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: tokens.append(token_provider("work", renew, path, lambda: 1000.0)())
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert renewals == ["r1"] and tokens == ["token-2", "token-2"]
    assert Profiles.load(path).get("work").refresh_token == "r2"
