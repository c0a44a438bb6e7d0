"""A real OIDC provider for tests: npm `oidc-provider` run by `tools/oidc-issuer.mjs` on a free
port of 127.0.0.1, with RSA keys this module makes (so that tests can also sign the forged and
broken tokens a provider would never issue, with the provider's own key); a person approving a
device sign-in on the provider's own pages, as a browser would (`approve`); a provider that is
down (a socket that accepts and never answers); and the junk tokens an anonymous caller sends."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from chainlake.local.devchain import TOOLS
from chainlake.local.localpg import free_port

ISSUER_SCRIPT = TOOLS / "oidc-issuer.mjs"
AUDIENCE = "urn:chainlake:api"


def rsa_jwk(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    """A new RSA key, and its private JWK (kid, alg RS256) as the provider's config wants it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.pop("key_ops", None)  # with `use`, the provider would not pick it to sign
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return key, jwk


@dataclass
class Client:
    client_id: str
    claims: dict[str, Any]
    client_secret: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Issuer:
    """One provider process. `rotate()` restarts it with a new signing key first in its JWKS."""

    folder: Path
    clients: list[Client]
    resources: dict[str, int]
    port: int = field(default_factory=free_port)
    device_clients: list[str] = field(default_factory=list)  # public clients of the device flow
    device_code_ttl: int | None = None  # seconds a user code stays valid (provider default 600)
    keys: list[tuple[rsa.RSAPrivateKey, dict[str, Any]]] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def signing_key(self) -> rsa.RSAPrivateKey:
        return self.keys[0][0]

    @property
    def kid(self) -> str:
        return str(self.keys[0][1]["kid"])

    def start(self) -> Issuer:
        if not self.keys:
            self.keys.append(rsa_jwk(f"key-{uuid.uuid4().hex[:8]}"))
        config = self.folder / f"oidc-{self.port}.json"
        config.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "keys": [jwk for _, jwk in self.keys],
                    "resources": self.resources,
                    "clients": [c.__dict__ for c in self.clients],
                    "device_clients": self.device_clients,
                    "device_code_ttl": self.device_code_ttl,
                }
            )
        )
        self.process = subprocess.Popen(
            ["node", str(ISSUER_SCRIPT), str(config)],
            stdout=subprocess.PIPE,
            stderr=None,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()  # the script prints `ready` or dies
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the OIDC provider did not start: {line!r}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def rotate(self, keep_old: bool = True) -> None:
        """A new signing key; the old one stays published unless `keep_old` is False."""
        self.stop()
        new = rsa_jwk(f"key-{uuid.uuid4().hex[:8]}")
        self.keys = [new, *self.keys] if keep_old else [new]
        self.start()

    def token(self, client: Client, resource: str = AUDIENCE) -> str:
        """A client-credentials access token (a JWT) from the provider's token endpoint."""
        body = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "resource": resource,
                "scope": "api",
            }
        ).encode()
        request = urllib.request.Request(f"{self.url}/token", body, method="POST")  # noqa: S310
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    return str(json.loads(response.read())["access_token"])
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        """A token signed with the provider's current key: for the cases it would never issue."""
        return jwt.encode(
            claims, self.signing_key, algorithm="RS256", headers={"kid": self.kid, **headers}
        )


class _Forms(HTMLParser):
    """The forms of a page: each one's action, and its named inputs' values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((found.get("action", ""), {}))
        elif tag == "input" and self.forms and found.get("name"):
            self.forms[-1][1][found["name"]] = found.get("value", "")


def _submit(browser: httpx.Client, page: httpx.Response, **fields: str) -> httpx.Response:
    """Submit the page's first form with `fields` over its own inputs (as a person would)."""
    parser = _Forms()
    parser.feed(page.text)
    assert parser.forms, f"no form on {page.url}: {page.text[:500]}"
    action, inputs = parser.forms[0]
    return browser.post(page.url.join(action), data={**inputs, **fields})


def approve(verification_uri_complete: str, email: str, deny: bool = False) -> str:
    """Open the device sign-in page for a user code, confirm the code (or abort it, `deny`),
    sign in as `email` with any password and consent, on the provider's own pages; the text of
    the last page."""
    with httpx.Client(follow_redirects=True, timeout=10, max_redirects=10) as browser:
        page = browser.get(verification_uri_complete)  # posts the code on, as its script would
        page = _submit(browser, page)  # the confirmation page: Continue, or Abort
        page = _submit(browser, page, **({"abort": "yes"} if deny else {}))
        if deny:
            return page.text
        page = _submit(browser, page, login=email, password="any")  # the sign-in page
        page = _submit(browser, page)  # the consent page: Continue
        assert re.search("Sign-in Success", page.text, re.I), page.text[:1000]
        return page.text


@dataclass
class Silent:
    """A TCP port on 127.0.0.1 that accepts every connection and never answers (a hung
    provider); counts the connections it was sent."""

    server: socket.socket = field(default_factory=socket.socket)
    held: list[socket.socket] = field(default_factory=list)

    @property
    def discovery_url(self) -> str:
        port = self.server.getsockname()[1]
        return f"http://127.0.0.1:{port}/.well-known/openid-configuration"

    @property
    def issuer(self) -> str:
        """The `iss` of its tokens (the discovery URL less its suffix)."""
        return self.discovery_url.removesuffix("/.well-known/openid-configuration")

    def serve(self, stop: threading.Event) -> None:
        self.server.settimeout(0.1)
        while not stop.is_set():
            try:
                self.held.append(self.server.accept()[0])
            except TimeoutError:
                continue


@contextmanager
def silent_provider() -> Iterator[Silent]:
    provider = Silent()
    provider.server.bind(("127.0.0.1", 0))
    provider.server.listen(256)
    stop = threading.Event()
    thread = threading.Thread(target=provider.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        stop.set()
        thread.join(5)
        for conn in provider.held:
            conn.close()
        provider.server.close()


def junk(issuer: str, key: rsa.RSAPrivateKey | None = None) -> str:
    """A token naming `issuer`, signed with a key nobody knows (what an anonymous caller sends);
    pass `key` to sign many without making a key for each."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": issuer, "aud": AUDIENCE, "sub": "x", "iat": now, "exp": now + 300}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k"})
