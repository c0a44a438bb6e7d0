"""The remote CLI from a laptop: `chainlake login` against the real OIDC provider (the device flow,
approved on the provider's own pages as a person would; client credentials for automation), then
commands through the API with the profile's token, run as a subprocess with its own HOME and
XDG_CONFIG_HOME in an empty directory (no platform key, no stack, no database URL: tests/remote.py).
"""

from __future__ import annotations

import json
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chainlake.client import login
from chainlake.local.localpg import free_port
from tests.oidc import AUDIENCE, Client, Issuer
from tests.remote import (
    CLI_CLIENT,
    cli,
    cli_issuer,
    device_login,
    edit,
    new_laptop,
    profiles_file,
    stored,
    trusting_api,
)
from tests.tenants import Tenants

BOT = Client("ci-bot", {})


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Issuer]:
    with cli_issuer(tmp_path, [BOT]) as provider:
        yield provider


@pytest.fixture
def api(tenants: Tenants, tmp_path: Path, issuer: Issuer) -> Iterator[str]:
    clients = {BOT.client_id: tenants.user("b", "writer").email}
    with trusting_api(tenants, tmp_path, issuer, clients) as url:
        yield url


@pytest.fixture
def laptop(tmp_path: Path) -> Path:
    return new_laptop(tmp_path / "laptop")


def test_a_person_signs_in_by_device_code_and_works_through_the_api(
    api: str, laptop: Path, tenants: Tenants
) -> None:
    ada = tenants.user("a", "admin")
    code, out, err = device_login(laptop, api, ada.email, "work")
    assert code == 0, err
    assert "enter the code" in out and f"as {ada.email} (profile work)" in out, out
    mode = profiles_file(laptop).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600, oct(mode)
    assert stat.S_IMODE(profiles_file(laptop).parent.stat().st_mode) == 0o700
    first = stored(laptop, "work")
    assert first["access_token"] not in out + err, "the token is never printed"

    me = cli(laptop, "--profile", "work", "whoami", "--json")
    assert me.returncode == 0, me.stderr
    assert {(m["org"], m["role"]) for m in json.loads(me.stdout)["memberships"]} == {("a", "admin")}
    assert cli(laptop, "whoami").stdout.startswith(ada.email), "the first profile is the default"
    table = cli(laptop, "query", "SELECT 42 AS answer")
    assert table.returncode == 0 and table.stdout.split() == ["answer", "42"], table.stderr
    csv = cli(laptop, "query", "SELECT 42 AS answer", "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.split() == ['"answer"', "42"], csv.stdout
    shown = cli(laptop, "profile", "show", "work")
    assert json.loads(shown.stdout)["api_url"] == api and first["access_token"] not in shown.stdout

    edit(laptop, "work", expires_at=time.time() - 5)  # expired: renewed by its refresh token
    assert cli(laptop, "whoami", CHAINLAKE_PROFILE="work").returncode == 0
    assert stored(laptop, "work")["access_token"] != first["access_token"], "refreshed, saved"

    gone = cli(laptop, "logout", "--profile", "work")
    assert gone.returncode == 0 and "Signed out" in gone.stdout, gone.stderr
    assert stored(laptop, "work")["access_token"] is None
    assert stored(laptop, "work")["refresh_token"] is None
    after = cli(laptop, "--profile", "work", "whoami")
    assert after.returncode == 8 and "chainlake login --profile work" in after.stderr


def test_an_expired_session_says_how_to_sign_in_again(
    api: str, laptop: Path, tenants: Tenants, issuer: Issuer
) -> None:
    assert device_login(laptop, api, tenants.user("a", "reader").email, "work")[0] == 0
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "x", "iat": now - 900, "exp": now - 600}
    old = issuer.sign({**claims, "email": tenants.user("a", "reader").email})
    said = "your session for work expired: run `chainlake login --profile work`"
    # the client knows it expired (and has no refresh token) ...
    edit(laptop, "work", access_token=old, refresh_token=None, expires_at=now - 600)
    known = cli(laptop, "--profile", "work", "whoami")
    # ... or only the API does (a token without a recorded expiry)
    edit(laptop, "work", expires_at=None)
    refused = cli(laptop, "--profile", "work", "whoami")
    for answer in (known, refused):
        assert answer.returncode == 8 and said in answer.stderr, answer.stderr
        assert "Traceback" not in answer.stderr and answer.stdout == ""


def test_an_unreachable_api_is_one_clear_line(laptop: Path, api: str, tenants: Tenants) -> None:
    assert device_login(laptop, api, tenants.user("a", "reader").email, "work")[0] == 0
    nowhere = f"http://127.0.0.1:{free_port()}"
    edit(laptop, "work", api_url=nowhere)
    for answer in (
        cli(laptop, "--profile", "work", "whoami"),
        cli(laptop, "login", "--api", nowhere, "--profile", "other"),
    ):
        assert answer.returncode != 0
        assert "Traceback" not in answer.stderr, answer.stderr
        errors = [line for line in answer.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and nowhere in errors[0], answer.stderr
    assert "other" not in json.loads(profiles_file(laptop).read_text())["profiles"]


def test_a_denied_device_code_is_a_clear_error_and_saves_nothing(
    api: str, laptop: Path, tenants: Tenants
) -> None:
    code, _, err = device_login(laptop, api, tenants.user("a", "reader").email, "work", deny=True)
    assert code == 8 and "sign-in was denied at the provider" in err, err
    assert "Traceback" not in err
    assert not profiles_file(laptop).exists()


def test_automation_signs_in_with_client_credentials(
    api: str, laptop: Path, tenants: Tenants, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(BOT.client_secret + "\n")
    args = ("login", "--api", api, "--profile", "ci", "--client-id", BOT.client_id)
    done = cli(laptop, *args, "--client-secret-file", str(secret))
    assert done.returncode == 0, done.stderr
    assert BOT.client_secret not in profiles_file(laptop).read_text(), "never the secret itself"
    me = cli(laptop, "--profile", "ci", "whoami")
    assert me.returncode == 0 and me.stdout.startswith(tenants.user("b", "writer").email)
    edit(laptop, "ci", expires_at=time.time() - 5)  # expired: a new token from the secret
    assert cli(laptop, "--profile", "ci", "whoami").returncode == 0

    by_env = cli(laptop, *args[:4], "env", *args[5:], CHAINLAKE_CLIENT_SECRET=BOT.client_secret)
    assert by_env.returncode == 0, by_env.stderr
    assert stored(laptop, "env")["client_secret_env"] == "CHAINLAKE_CLIENT_SECRET"
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-secret")
    refused = cli(laptop, *args[:4], "bad", *args[5:], "--client-secret-file", str(wrong))
    assert refused.returncode == 8 and "refused client ci-bot" in refused.stderr
    assert "bad" not in json.loads(profiles_file(laptop).read_text())["profiles"]


def test_profiles_bad_input_and_local_only_commands(
    api: str, laptop: Path, tenants: Tenants
) -> None:
    assert device_login(laptop, api, tenants.user("a", "reader").email, "work")[0] == 0
    before = profiles_file(laptop).read_text()
    no_api = cli(laptop, "login", "--profile", "new")
    assert no_api.returncode == 2 and "--api URL" in no_api.stderr
    assert cli(laptop, "login", "--api", api, "--profile", "lo/cal").returncode == 2
    unknown = cli(laptop, "profile", "use", "nope")
    assert unknown.returncode == 3 and "no profile 'nope'" in unknown.stderr
    acting_as = cli(laptop, "--profile", "work", "whoami", "--as", "x@example.com")
    assert acting_as.returncode == 2 and "--as" in acting_as.stderr
    for command in (["up"], ["migrate"], ["token", "x@y"], ["psql"], ["org", "list"]):
        refused = cli(laptop, "--profile", "work", *command)
        assert refused.returncode == 2, (command, refused.stderr)
        assert "works on the operator's machine only" in refused.stderr, refused.stderr
    assert profiles_file(laptop).read_text() == before, "nothing changed"

    assert cli(laptop, "profile", "use", "local").returncode == 0
    listed = cli(laptop, "profile", "list", "--json")
    assert [p["name"] for p in json.loads(listed.stdout)] == ["work"]
    local = cli(laptop, "whoami")  # no profile in effect: this machine's stack, which is none
    assert local.returncode != 0 and "Postgres" in local.stderr, local.stderr


@contextmanager
def token_endpoint(answers: list[dict[str, Any]]) -> Iterator[str]:
    """A token endpoint on 127.0.0.1 that answers each POST with the next of `answers` (an
    OAuth error is a 400), then `authorization_pending` forever: what a provider may say that
    the real one in these tests never does (`slow_down`)."""
    pending = {"error": "authorization_pending"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            answer = answers.pop(0) if answers else pending
            body = json.dumps(answer).encode()
            self.send_response(400 if "error" in answer else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        thread.join(5)


def test_polling_keeps_the_interval_slows_down_when_told_and_ends_at_the_codes_expiry() -> None:
    settings = login.AuthSettings("http://127.0.0.1:1", "", AUDIENCE, CLI_CLIENT, "")
    slept: list[float] = []

    def clock() -> float:  # time passes only by the poller's own sleeps
        return sum(slept)

    code = login.DeviceCode("dc", "ABCD-EFGH", "http://127.0.0.1:1/device", None, 600, 2)
    answers = [{"error": "slow_down"}, {"error": "authorization_pending"}, {"access_token": "t"}]
    with token_endpoint(answers) as url:
        found = login.Endpoints(url, None)
        tokens = login.poll_device_flow(settings, found, code, slept.append, clock)
    assert tokens.access_token == "t" and slept == [2, 7, 7], "5 s more after slow_down, kept"

    slept.clear()
    never = login.DeviceCode("dc", "ABCD-EFGH", "http://127.0.0.1:1/device", None, 30, 5)
    with token_endpoint([]) as url, pytest.raises(login.LoginFailed, match="expired before"):
        login.poll_device_flow(settings, login.Endpoints(url, None), never, slept.append, clock)
    assert slept == [5] * 6, "polled until the code expired, not after"


def test_a_code_the_provider_expired_is_a_clear_error(tmp_path: Path) -> None:
    provider = Issuer(tmp_path, [], {AUDIENCE: 300}, device_clients=[CLI_CLIENT])
    provider.device_code_ttl = 2
    provider.start()
    try:
        settings = login.AuthSettings(
            provider.url, provider.discovery_url, AUDIENCE, CLI_CLIENT, "openid api"
        )
        found = login.endpoints(settings)
        code = login.start_device_flow(settings, found)
        with pytest.raises(login.LoginFailed, match=f"the code {code.user_code} expired"):
            # the provider's own clock runs; ours says the code is young, so it is the
            # provider's `expired_token` that ends the polling
            login.poll_device_flow(settings, found, code, lambda _: time.sleep(1), lambda: 0.0)
    finally:
        provider.stop()
