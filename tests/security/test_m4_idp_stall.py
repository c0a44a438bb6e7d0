"""M4: with a configured OIDC provider down, every token naming an unknown issuer made the API
try that provider again (5 s each, uncached), so anonymous junk tokens filled the API's threads
and acme's requests timed out. Now only configured issuers are contacted, a token naming any
other issuer is refused without network I/O, failures are remembered with backoff, and one slow
provider never delays another issuer's tokens.

The provider that is down is a real socket on 127.0.0.1 that accepts and never answers; the one
that works is a real npm oidc-provider (tests/oidc.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from api.auth import OidcIssuer, Verifier
from tests.integration.conftest import send, serve_api, token
from tests.integration.test_oidc import bot, configured  # noqa: F401 - fixture
from tests.oidc import AUDIENCE, Client, Issuer, Silent, junk, silent_provider
from tests.tenants import Tenants


@pytest.fixture
def silent() -> Iterator[Silent]:
    with silent_provider() as provider:
        yield provider


def down(silent: Silent) -> OidcIssuer:
    settings = {"discovery_url": silent.discovery_url, "audience": AUDIENCE}
    return OidcIssuer.from_config({**settings, "timeout_seconds": 2, "retry_min_seconds": 60})


def test_a_token_naming_an_unconfigured_issuer_costs_no_network_io(
    tenants: Tenants, tmp_path: Path, silent: Silent
) -> None:
    verifier = Verifier(tmp_path / "home" / "dev-issuer", [down(silent)])
    acme = token(tmp_path, tenants.user("a", "reader"))
    with serve_api(tenants, tmp_path, verifier) as api, ThreadPoolExecutor(40) as pool:
        flood = [
            pool.submit(send, api, "GET", "/v1/whoami", junk(f"https://idp{i}.invalid"))
            for i in range(120)
        ]
        started = time.monotonic()
        status, _ = send(api, "GET", "/v1/whoami", acme)
        acme_took = time.monotonic() - started
        answers = [f.result(timeout=60) for f in flood]
    assert status == 200
    assert acme_took < 4, f"acme's request waited {acme_took:.1f} s behind junk tokens"
    assert all(s == 401 and "unknown issuer" in b["detail"] for s, b in answers), answers[:3]
    assert silent.held == [], "an unknown issuer's token made the API contact a provider"


def test_a_provider_that_is_down_is_asked_once_per_backoff_window(
    tenants: Tenants, tmp_path: Path, silent: Silent
) -> None:
    verifier = Verifier(None, [down(silent)])
    with serve_api(tenants, tmp_path, verifier) as api, ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(
                lambda _: send(api, "GET", "/v1/whoami", junk(silent.discovery_url[:-33])),
                range(30),
            )
        )
    assert all(s == 401 and "unreachable" in b["detail"] for s, b in answers), answers[:3]
    assert len(silent.held) == 1, f"{len(silent.held)} connections to the provider that is down"


def test_a_slow_provider_never_delays_another_issuers_tokens(
    tenants: Tenants,
    tmp_path: Path,
    silent: Silent,
    bot: str,  # noqa: F811 - the fixture
) -> None:
    viewer = Client("ci-viewer", {"org": "a", "role": "viewer"})
    working = Issuer(tmp_path, [viewer], {AUDIENCE: 300}).start()
    try:
        # the hung provider is configured first: it must not be asked for the other's tokens
        verifier = Verifier(None, [down(silent), configured(working)])
        with serve_api(tenants, tmp_path, verifier) as api:
            status, body = send(api, "GET", "/v1/whoami", working.token(viewer))
    finally:
        working.stop()
    assert status == 200, body
    assert silent.held == [], "a token of one issuer made the API contact another"
