"""Structured logs of a real stack (the API and the runner as `chainlake up` starts them): every
line of each process's log file is one JSON object with time, level and msg; a job's traceback is
one line's `exc` field; the runner's lines about a run name its org, run and job; the API's access
log has a line per request with its status, never a token or a query string; and a run's secret
(quotes, a backslash, non-ASCII) never reaches the runner's log (docs/operations.md, "Logs")."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from chainlake.local.localpg import free_port
from tests.acceptance.conftest import ok
from tests.runtime import TEST_JOBS, scalar, wait_for

SECRET = "p\"a'ss\\wörd✓"
MESSAGE = 'he said "stop" and it\'s {broken}\\n'


def call(
    api: str, method: str, path: str, token: str, body: Any = None, **headers: str
) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - the stack's API on 127.0.0.1
        api + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def lines_of(path: Path) -> list[dict[str, Any]]:
    """Every line of a log file as a JSON object with time, level and msg (or the test fails,
    naming the line)."""
    parsed = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"{path.name} line {number} is not JSON: {line!r}") from None
        assert isinstance(record, dict), f"{path.name} line {number}: {line!r}"
        assert {"time", "level", "msg", "process"} <= record.keys(), f"{path.name}: {line!r}"
        parsed.append(record)
    return parsed


def job_with_a_secret(tmp_path: Path) -> Path:
    folder = tmp_path / "behave"
    folder.mkdir()
    shutil.copy(TEST_JOBS / "behave.py", folder / "behave.py")
    spec = (TEST_JOBS / "behave.yaml").read_text().replace("max_attempts: 3", "max_attempts: 1")
    (folder / "behave.yaml").write_text(spec + "secrets: [api_token]\n")
    return folder / "behave.yaml"


def test_every_line_is_json_with_run_context_access_lines_and_no_secret(
    env: dict[str, str], admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    home = Path(env["CHAINLAKE_HOME"])
    ann = ("--org", "acme", "--as", "ann@acme.example")
    ok("job", "apply", str(job_with_a_secret(tmp_path)), *ann, env=env)
    ok("secret", "set", "api_token", "--value-env", "TOKEN", *ann, env={**env, "TOKEN": SECRET})
    ok("up", "--no-chain", env=env)  # the runner, beside the API the fixture started
    api = "http://127.0.0.1:" + (home / "run" / "api.port").read_text().strip()
    token = ok("token", "--user", "ann@acme.example", env=env).strip()

    crash = call(
        api,
        "POST",
        "/v1/jobs/acme/behave/runs",
        token,
        {"params": {"do": "crash_saying", "message": MESSAGE}},
    )
    leak = call(api, "POST", "/v1/jobs/acme/behave/runs", token, {"params": {"do": "leak"}})
    assert crash[0] == leak[0] == 201, (crash, leak)
    crash_id, leak_id = crash[1]["id"], leak[1]["id"]

    def ended(run_id: str) -> bool:
        return bool(scalar(admin, "SELECT status FROM runs.runs WHERE id = %s", run_id) == "dead")

    wait_for(lambda: ended(crash_id) and ended(leak_id), timeout=120, every=0.2)
    assert call(api, "GET", f"/v1/runs/{crash_id}", token)[0] == 200
    assert call(api, "GET", "/v1/no-such-thing?token=" + "q" * 12, token)[0] == 404
    assert call(api, "GET", "/v1/whoami", "not-a-token")[0] == 401
    assert call(api, "GET", "/health", "")[0] == 200  # a probe: its line only at DEBUG
    wait_for(lambda: "/v1/whoami" in (home / "run" / "api.log").read_text(), timeout=30)
    ok("down", env=env)  # the runner drains and its last lines are written

    # the runner: the job's traceback in one line's exc, its lines naming the run
    runner_text = (home / "run" / "runner.log").read_text(encoding="utf-8")
    runner = lines_of(home / "run" / "runner.log")
    org_id = str(scalar(admin, "SELECT org_id FROM runs.runs WHERE id = %s", crash_id))
    about_crash = [r for r in runner if r.get("run_id") == crash_id]
    assert about_crash, f"no runner line names run {crash_id}"
    assert all(r["org"] == org_id and r["job"] == "behave" for r in about_crash), about_crash
    failed = [r for r in about_crash if "attempt 1 failed" in r["msg"]]
    assert len(failed) == 1 and MESSAGE in failed[0]["msg"], about_crash
    assert "Traceback (most recent call last)" in failed[0]["exc"], failed[0]
    assert f"ValueError: {MESSAGE}" in failed[0]["exc"], failed[0]
    laps = [r["phases_ms"] for r in about_crash if r["msg"].startswith("attempt phases")]
    assert len(laps) == 1 and laps[0]["job"] > 0, about_crash

    # the secret: in no form, anywhere in the runner's log; its failure line redacted
    for form in (SECRET, json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1]):
        assert form not in runner_text, f"the secret ({form}) reached the runner's log"
    leaked = [r for r in runner if r.get("run_id") == leak_id and "failed" in r["msg"]]
    assert leaked and "[REDACTED]" in leaked[0]["msg"], leaked

    # the API: an access line per request, with route, status, caller; no token, no query
    api_text = (home / "run" / "api.log").read_text(encoding="utf-8")
    access = [
        r for r in lines_of(home / "run" / "api.log") if r["logger"] == "chainlake.api.access"
    ]
    seen = {(r["method"], r["route"], r["status"]) for r in access}
    assert ("POST", "/v1/jobs/{org}/{name}/runs", 201) in seen, seen
    assert ("GET", "/v1/runs/{run_id}", 200) in seen, seen
    assert ("GET", "/v1/no-such-thing", 404) in seen, seen
    assert ("GET", "/v1/whoami", 401) in seen, seen
    posted = next(r for r in access if r["status"] == 201)
    assert posted["user"] and posted["org"] == "acme" and org_id in posted["orgs"], posted
    assert isinstance(posted["duration_ms"], float), posted
    assert token not in api_text and "q" * 12 not in api_text
    assert not [r for r in access if r["route"] == "/health"], access


def test_the_devchain_writes_json_lines(tmp_path: Path) -> None:
    """The devchain as the stack starts it (`python -m chainlake.local.devchain`), its stdout and
    stderr in one log file: ready, then stopped by SIGTERM, every line a JSON object."""
    log, info = tmp_path / "devchain.log", tmp_path / "devchain.json"
    argv = [sys.executable, "-m", "chainlake.local.devchain", "--port", str(free_port())]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*argv, "--tx-rate", "5", "--info", str(info)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_for(info.exists, timeout=120, every=0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    lines = lines_of(log)
    assert {r["process"] for r in lines} == {"devchain"}, lines
    assert any(r["msg"].startswith("devchain ready at http://127.0.0.1:") for r in lines), lines
