"""Issue 17's remote CLI against a malicious API server (SECURITY.md item 24, outbound calls, seen
from the laptop's side): the address a user signs in to is the only thing the user chose, and
everything else `chainlake login` does (the provider it trusts, the discovery document, the token
endpoint, the text it prints) comes from that server's answers. Each server here is a real HTTP
server on 127.0.0.1; the CLI runs as a subprocess on an empty laptop (tests/remote.py)."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chainlake.local.localpg import free_port
from tests.remote import CHAINLAKE, laptop_env, new_laptop

Route = Callable[[BaseHTTPRequestHandler, bytes], None]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what a terminal acts on
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[1;31mFAKE PROMPT\x1b[0m"


@contextmanager
def server(routes: dict[str, Route]) -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """An HTTP server on 127.0.0.1 answering `routes` by path; its URL and every request it got
    (path, body)."""
    seen: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0]
            seen.append((path, body))
            route = routes.get(path)
            if route is None:
                self.send_response(404)
                self.end_headers()
                return
            route(self, body)

        do_GET = do_POST = _any

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def answer(status: int, document: Any) -> Route:
    def route(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        raw = json.dumps(document).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    return route


def run(laptop: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHAINLAKE, *args],
        cwd=laptop / "cwd",
        env=laptop_env(laptop),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def laptop(tmp_path: Path) -> Path:
    return new_laptop(tmp_path / "laptop")


def test_the_api_cannot_redirect_a_client_secret_to_a_token_endpoint_of_its_choosing(
    laptop: Path, tmp_path: Path
) -> None:
    """The user names the provider their client belongs to (`--issuer`); the API lists that
    issuer but points its `discovery_url` at a document of its own, which claims the same
    issuer and names the API's own token endpoint. The CLI checks only that the document
    repeats the issuer (both strings come from the attacker) and posts the client secret there.
    OpenID Connect Discovery 1.0 section 4: the document is at the issuer's
    `/.well-known/openid-configuration`, and nowhere else."""
    secret = "s3cr3t-of-the-real-provider"
    (tmp_path / "secret").write_text(secret + "\n")
    tokens = {"access_token": "x.y.z", "expires_in": 300, "token_type": "Bearer"}
    real_routes: dict[str, Route] = {}
    evil_routes: dict[str, Route] = {}
    with server(real_routes) as (real_idp, _), server(evil_routes) as (evil, evil_seen):
        real_routes["/.well-known/openid-configuration"] = answer(
            200, {"issuer": real_idp, "token_endpoint": real_idp + "/token"}
        )
        real_routes["/token"] = answer(200, tokens)
        evil_routes["/v1/auth/config"] = answer(
            200,
            {
                "issuers": [
                    {
                        "issuer": real_idp,
                        "discovery_url": evil + "/not-the-issuers/openid-configuration",
                        "audience": "chainlake",
                        "client_id": None,
                        "scope": "",
                    }
                ]
            },
        )
        evil_routes["/not-the-issuers/openid-configuration"] = answer(
            200, {"issuer": real_idp, "token_endpoint": evil + "/token"}
        )
        evil_routes["/token"] = answer(200, tokens)
        said = run(
            laptop,
            "login",
            "--api",
            evil,
            "--profile",
            "p",
            "--issuer",
            real_idp,
            "--client-id",
            "ci-bot",
            "--client-secret-file",
            str(tmp_path / "secret"),
        )
        leaked = [path for path, body in evil_seen if secret.encode() in body]
        assert not leaked, (
            f"the client secret of {real_idp}'s client went to the API's own {leaked}: "
            f"exit {said.returncode}, {said.stdout!r} {said.stderr!r}"
        )


def test_text_from_the_api_reaches_the_terminal_without_control_characters(
    laptop: Path,
) -> None:
    """What a server says (a problem's detail, a device code, a verification address) is printed
    by the CLI; escape sequences in it retitle the terminal, clear it, draw a fake prompt, or
    (OSC 52 on some terminals) write the clipboard. Printed text must be shown, not obeyed."""
    routes: dict[str, Route] = {}
    with server(routes) as (evil, _):
        routes["/v1/auth/config"] = answer(500, {"detail": "broken " + ESCAPES})
        refused = run(laptop, "login", "--api", evil, "--profile", "p")
        routes["/v1/auth/config"] = answer(
            200,
            {
                "issuers": [
                    {
                        "issuer": evil,
                        "discovery_url": evil + "/.well-known/openid-configuration",
                        "audience": "chainlake",
                        "client_id": "chainlake-cli",
                        "scope": "openid",
                    }
                ]
            },
        )
        routes["/.well-known/openid-configuration"] = answer(
            200,
            {
                "issuer": evil,
                "token_endpoint": evil + "/token",
                "device_authorization_endpoint": evil + "/device",
            },
        )
        routes["/device"] = answer(
            200,
            {
                "device_code": "d",
                "user_code": "CODE" + ESCAPES,
                "verification_uri": "http://127.0.0.1/verify" + ESCAPES,
                "expires_in": 1,
                "interval": 1,
            },
        )
        routes["/token"] = answer(400, {"error": "authorization_pending"})
        device = run(laptop, "login", "--api", evil, "--profile", "p")
    for said in (refused, device):
        shown = said.stdout + said.stderr
        assert "owned" in shown or "CODE" in shown, shown  # the attack reached the output
        assert not CONTROL.findall(shown.replace("\n", "")), repr(shown)


def test_a_trickling_api_cannot_hold_the_cli_forever(laptop: Path) -> None:
    """httpx's timeout bounds each read, not the response: a server that sends a few bytes every
    second, for ever, keeps `chainlake login` waiting (and buffering) without end. The CLI must
    give up within its stated bound (15 s a request) with a clear error."""
    stop = threading.Event()

    def trickle(handler: BaseHTTPRequestHandler, _: bytes) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        handler.wfile.write(b'{"issuers": [')
        deadline = time.monotonic() + 90
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                handler.wfile.write(b" " * 1024)
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.5)

    with server({"/v1/auth/config": trickle}) as (evil, _):
        started = time.monotonic()
        try:
            said = run(laptop, "login", "--api", evil, "--profile", "p", timeout=45)
        except subprocess.TimeoutExpired:
            said = None
        finally:
            stop.set()
        took = time.monotonic() - started
    assert said is not None, f"the CLI still waited on the API after {took:.0f} s"
    assert said.returncode != 0 and "error:" in said.stderr, said


def test_a_providers_nonsense_interval_is_a_clear_error(laptop: Path) -> None:
    """RFC 8628's `interval` comes from the provider the API named; a negative one makes
    time.sleep raise ValueError and the CLI die with a traceback (and `expires_in` in the
    billions with a huge interval would keep it polling for days: MAX_POLLS bounds the count,
    not the time)."""
    routes: dict[str, Route] = {}
    with server(routes) as (evil, _):
        routes["/v1/auth/config"] = answer(
            200,
            {
                "issuers": [
                    {
                        "issuer": evil,
                        "discovery_url": evil + "/.well-known/openid-configuration",
                        "audience": "chainlake",
                        "client_id": "chainlake-cli",
                        "scope": "openid",
                    }
                ]
            },
        )
        routes["/.well-known/openid-configuration"] = answer(
            200,
            {
                "issuer": evil,
                "token_endpoint": evil + "/token",
                "device_authorization_endpoint": evil + "/device",
            },
        )
        routes["/device"] = answer(
            200,
            {
                "device_code": "d",
                "user_code": "ABCD",
                "verification_uri": "http://127.0.0.1/verify",
                "expires_in": 30,
                "interval": -5,
            },
        )
        routes["/token"] = answer(400, {"error": "authorization_pending"})
        said = run(laptop, "login", "--api", evil, "--profile", "p")
    assert said.returncode != 0
    assert "Traceback" not in said.stderr, said.stderr
    assert "error: " in said.stderr and "interval" in said.stderr, said.stderr


def test_tokens_go_over_https_only_off_this_machine() -> None:
    """A sign-in, its token and a client's secret never cross a network in the clear: an API or
    a provider off loopback must be https (refused before any request is made)."""
    from chainlake.client.login import LoginFailed, auth_settings

    with pytest.raises(LoginFailed, match="is not https"):
        auth_settings("http://chainlake.example.com")
