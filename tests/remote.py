"""The remote CLI as a person runs it on a laptop, for tests: a provider that signs people in by
the device flow (tests/oidc.py), the API trusting it, and `chainlake` run as a subprocess with
its own HOME and XDG_CONFIG_HOME in an empty directory (no platform key, no stack, no database
URL), signed in by approving its device code on the provider's pages (`device_login`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api.auth import OidcIssuer, Verifier
from tests.integration.conftest import serve_api
from tests.oidc import AUDIENCE, Client, Issuer, approve
from tests.tenants import Tenants

CHAINLAKE = str(Path(sys.executable).parent / "chainlake")
CLI_CLIENT = "chainlake-cli"


@contextmanager
def cli_issuer(folder: Path, clients: list[Client]) -> Iterator[Issuer]:
    """The provider, with the CLI's public client for the device flow and `clients`."""
    provider = Issuer(folder, clients, {AUDIENCE: 300}, device_clients=[CLI_CLIENT])
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@contextmanager
def trusting_api(
    tenants: Tenants, tmp_path: Path, issuer: Issuer, clients: dict[str, str]
) -> Iterator[str]:
    """The API trusting `issuer` (its CLI client named in /v1/auth/config; `clients`: client id
    to user e-mail, for client credentials), also the dev issuer under tmp_path/home."""
    trusted = OidcIssuer.from_config(
        {
            "discovery_url": issuer.discovery_url,
            "audience": AUDIENCE,
            "clients": clients,
            "cli_client_id": CLI_CLIENT,
            "cli_scope": "openid email offline_access api",
            "jwks_min_refresh_seconds": 0,
        }
    )
    with serve_api(tenants, tmp_path, Verifier(tmp_path / "home" / "dev-issuer", [trusted])) as url:
        yield url


def new_laptop(folder: Path) -> Path:
    """An empty working directory (`cwd`) with its own HOME and config directory."""
    (folder / "cwd").mkdir(parents=True)
    return folder


def laptop_env(laptop: Path, **extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("CHAINLAKE_")}
    return {**kept, "HOME": str(laptop), "XDG_CONFIG_HOME": str(laptop / "config"), **extra}


def cli(laptop: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHAINLAKE, *args],
        cwd=laptop / "cwd",
        env=laptop_env(laptop, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def profiles_file(laptop: Path) -> Path:
    return laptop / "config" / "chainlake" / "profiles.json"


def stored(laptop: Path, name: str) -> dict[str, Any]:
    profile: dict[str, Any] = json.loads(profiles_file(laptop).read_text())["profiles"][name]
    return profile


def edit(laptop: Path, name: str, **changes: Any) -> None:
    document = json.loads(profiles_file(laptop).read_text())
    document["profiles"][name].update(changes)
    profiles_file(laptop).write_text(json.dumps(document))


def device_login(
    laptop: Path, api: str, email: str, profile: str, deny: bool = False
) -> tuple[int, str, str]:
    """`chainlake login --api API --profile P`, its code approved (or denied) as `email` on the
    provider's pages once the CLI printed it: (exit code, stdout, stderr)."""
    process = subprocess.Popen(
        [CHAINLAKE, "login", "--api", api, "--profile", profile],
        cwd=laptop / "cwd",
        env=laptop_env(laptop),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    timer = threading.Timer(60, process.kill)  # bounded, whatever happens
    timer.start()
    try:
        assert process.stdout is not None and process.stderr is not None
        said = ""
        while (line := process.stdout.readline()) and "(or open" not in line:
            said += line
        said += line
        found = re.search(r"\(or open (\S+)\)", said)
        assert found, f"no verification address in {said!r}; stderr {process.stderr.read()!r}"
        approve(found.group(1), email, deny=deny)
        out, err = process.communicate(timeout=60)
        return process.returncode, said + out, err
    finally:
        timer.cancel()
        process.kill()
