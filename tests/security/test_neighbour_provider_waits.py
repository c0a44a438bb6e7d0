"""Found by the noisy-neighbour suite (SECURITY.md item 22, after M4): the API runs its handlers
in the event loop's default executor, min(32, cores + 4) threads (6 on a 2-core machine). While
the API asked an OIDC provider that was down (up to its timeout), every other request bearing a
token of that provider waited for the answer in one of those threads: a few anonymous requests
held them all, and acme's /v1/whoami waited as long, again at every backoff window.

Now a request waits for another's ask only while the provider has not failed; once it has, a
token of it is refused at once while the next ask is under way."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import OidcIssuer, Verifier
from tests.integration.conftest import send, serve_api, token
from tests.oidc import AUDIENCE, junk, silent_provider
from tests.runtime import wait_for
from tests.tenants import Tenants

ASK_S = 4  # the provider's timeout: what a request waiting for an ask would wait
FLOOD = 40  # more than any default executor (at most 32 threads)


def test_tokens_of_a_failing_provider_never_wait_for_its_next_ask(
    tenants: Tenants, tmp_path: Path
) -> None:
    acme = token(tmp_path, tenants.user("a", "reader"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with silent_provider() as silent:
        issuer = OidcIssuer.from_config(
            {
                "discovery_url": silent.discovery_url,
                "audience": AUDIENCE,
                "timeout_seconds": ASK_S,
                "retry_min_seconds": 1,
            }
        )
        bad = junk(silent.issuer, key)
        verifier = Verifier(tmp_path / "home" / "dev-issuer", [issuer])
        with serve_api(tenants, tmp_path, verifier) as api, ThreadPoolExecutor(FLOOD) as pool:
            assert send(api, "GET", "/v1/whoami", bad)[0] == 401  # the first ask fails
            time.sleep(1.2)  # its backoff is over: the next token asks again
            flood = [pool.submit(send, api, "GET", "/v1/whoami", bad) for _ in range(FLOOD)]
            wait_for(lambda: len(silent.held) == 2, timeout=10)  # the second ask is under way
            started = time.monotonic()
            status, _ = send(api, "GET", "/v1/whoami", acme)
            took = time.monotonic() - started
            answers = [f.result(timeout=60) for f in flood]
    assert status == 200
    assert took < ASK_S / 2, f"acme's request waited {took:.1f} s for the provider's ask"
    assert all(s == 401 for s, _ in answers), answers[:3]
    assert len(silent.held) == 2, "the provider was asked once per backoff window"
