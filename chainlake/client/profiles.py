"""Profiles: the deployments a user signed in to, kept in the user's config directory.

`$XDG_CONFIG_HOME/chainlake/profiles.json` (else `~/.config/chainlake/profiles.json`): for each
profile the API's address, its OIDC issuer and token endpoint, the client id it signed in with,
and its tokens. The directory is 0700 and the file 0600, written whole to a temporary file and
renamed over the old one, so that a crash or a second process never leaves half a file. A client
secret is never written: a client-credentials profile names the file or environment variable
holding it.

Which profile a command uses: `--profile NAME`, else $CHAINLAKE_PROFILE, else the default set by
`chainlake profile use NAME`; none (or the name `local`) is the local operator's CLI."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from chainlake.client.base import NotSignedIn
from chainlake.errors import InvalidInput, NotFound

PROFILE_ENV = "CHAINLAKE_PROFILE"
LOCAL = "local"  # the name that selects no profile: the local operator's CLI
FILE_NAME = "profiles.json"
LOCK_NAME = ".profiles.lock"  # held while a token is renewed
EARLY_SECONDS = 30  # a token this close to its expiry is renewed before use
Grant = Literal["device", "client_credentials"]


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "chainlake"


@dataclass
class Profile:
    name: str
    api_url: str
    issuer: str
    token_endpoint: str
    audience: str
    client_id: str
    grant: Grant
    scope: str = ""
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: float | None = None  # epoch seconds
    client_secret_file: str | None = None  # client credentials: where the secret is read
    client_secret_env: str | None = None  # ... or the environment variable holding it

    def expired(self, now: float) -> bool:
        return not self.access_token or (
            self.expires_at is not None and self.expires_at - EARLY_SECONDS <= now
        )

    def summary(self) -> dict[str, Any]:
        """What `profile show` prints: everything but the tokens."""
        out = {k: v for k, v in asdict(self).items() if k not in ("access_token", "refresh_token")}
        out["signed_in"] = self.access_token is not None
        out["can_refresh"] = self.refresh_token is not None or self.grant == "client_credentials"
        return out


@dataclass
class Profiles:
    path: Path
    default: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Profiles:
        path = path or config_dir() / FILE_NAME
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                f"cannot read the profiles in {path}: {exc}",
                "fix or delete the file, then `chainlake login` again",
            ) from exc
        known = {f.name for f in fields(Profile)}
        profiles = {
            name: Profile(**{k: v for k, v in entry.items() if k in known})
            for name, entry in (document.get("profiles") or {}).items()
        }
        return cls(path, document.get("default"), profiles)

    def save(self) -> None:
        """Write the file atomically, 0600, in a 0700 directory."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        document = {
            "default": self.default,
            "profiles": {name: asdict(p) for name, p in sorted(self.profiles.items())},
        }
        handle, temporary = tempfile.mkstemp(prefix=".profiles-", dir=self.path.parent)
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w") as out:
                json.dump(document, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, name: str) -> Profile:
        found = self.profiles.get(name)
        if found is None:
            raise NotFound(
                f"no profile {name!r} in {self.path}",
                f"`chainlake login --api URL --profile {name}` creates it; "
                "`chainlake profile list` shows the others",
            )
        return found

    def put(self, profile: Profile) -> None:
        check_name(profile.name)
        self.profiles[profile.name] = profile
        if self.default is None:
            self.default = profile.name

    def remove(self, name: str) -> Profile:
        profile = self.get(name)
        del self.profiles[name]
        if self.default == name:
            self.default = None
        return profile

    def use(self, name: str) -> None:
        """Make `name` the default profile (`local`: none)."""
        self.default = None if name == LOCAL else self.get(name).name


def check_name(name: str) -> str:
    if not name or name == LOCAL or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(
            f"profile name {name!r}: letters, digits, - and _ only, and not {LOCAL!r}",
            f"{LOCAL!r} means the local operator's CLI",
        )
    return name


def selected(explicit: str | None, path: Path | None = None) -> str | None:
    """The profile a command uses: `--profile`, $CHAINLAKE_PROFILE, else the default; None for
    the local CLI."""
    name = explicit or os.environ.get(PROFILE_ENV) or None
    if name is None:
        name = Profiles.load(path).default
    return None if name in (None, LOCAL) else name


Renew = Callable[[Profile], Profile]


def token_provider(
    name: str, renew: Renew, path: Path | None = None, now: Callable[[], float] = time.time
) -> Callable[[], str]:
    """A callable giving the profile's access token, renewed by `renew` (a refresh, or a new
    client-credentials token) and saved when it is about to expire; NotSignedIn when it cannot
    be renewed."""
    held: list[Profile] = []

    def token() -> str:
        if not held:
            held.append(Profiles.load(path).get(name))
        profile = held[0]
        if profile.access_token is None:
            raise NotSignedIn(
                f"you are signed out of {name}: run `chainlake login --profile {name}`"
            )
        if profile.expired(now()):
            profile = _renewed(name, renew, path, now)
            held[0] = profile
        assert profile.access_token is not None
        return profile.access_token

    return token


def _renewed(name: str, renew: Renew, path: Path | None, now: Callable[[], float]) -> Profile:
    """Renew the profile's token under the profiles' lock: a second CLI renewing at the same
    time waits, then finds the token it renewed (a refresh token may be used once: two
    refreshes with it would fail one of them, or make the provider revoke both)."""
    store = Profiles.load(path)
    store.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(store.path.parent / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        store = Profiles.load(path)
        profile = store.get(name)
        if not profile.expired(now()):
            return profile  # renewed by another process meanwhile
        if profile.refresh_token is None and profile.grant != "client_credentials":
            raise expired(name)
        profile = renew(profile)
        store.profiles[name] = profile
        store.save()
        return profile


def expired(name: str, why: str | None = None) -> NotSignedIn:
    return NotSignedIn(
        f"your session for {name} expired: run `chainlake login --profile {name}`", why
    )
