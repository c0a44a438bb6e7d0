"""Traces of a real stack (the API and the runner as `chainlake up` starts them): a run started
through the API has one trace id (the caller's `traceparent`, else a fresh one) that is found in
the API's access line, the runner's lines, the job's log events (ctx.trace_id, through the API)
and GET /v1/runs/{id}; with CHAINLAKE_OTLP_ENDPOINT set, the API's request span and the runner's
attempt and phase spans reach an OTLP/HTTP receiver of ours in that trace; a malformed endpoint
is one line at start and the API still serves, and an endpoint nobody listens on costs no run
(docs/operations.md, "Traces")."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chainlake.local.localpg import free_port
from tests.acceptance.cli import CHAINLAKE
from tests.acceptance.conftest import ok
from tests.acceptance.test_structured_logs import call
from tests.runtime import TEST_JOBS, scalar, wait_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
PHASES = {"claim", "launch", "job", "upload", "commit"}


class Receiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1: every span posted to /v1/traces, decoded from
    its protobuf ExportTraceServiceRequest, as (service, trace id, span name)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        received = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            service = attributes.get("service.name", "")
                            received.append((service, span.trace_id.hex(), span.name))
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def of(self, trace_id: str) -> set[tuple[str, str]]:
        return {(service, name) for service, trace, name in list(self.spans) if trace == trace_id}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def restart(env: dict[str, str], *up: str) -> tuple[Path, str, str]:
    """`down`, then `up` with `env` (the stack's processes read it at start): the run folder,
    the API's URL and ann's token."""
    ok("down", env=env)
    ok("up", "--no-chain", *up, env=env)
    ok("job", "apply", str(TEST_JOBS / "behave.yaml"), "--org", "acme", env=env)
    run = Path(env["CHAINLAKE_HOME"]) / "run"
    api = "http://127.0.0.1:" + (run / "api.port").read_text().strip()
    token = ok("token", "--user", "ann@acme.example", env=env).strip()
    return run, api, token


def succeeded(admin: psycopg.Connection[Any], run_id: str) -> bool:
    status = scalar(admin, "SELECT status FROM runs.runs WHERE id = %s", run_id)
    assert status not in ("failed", "dead"), f"run {run_id} {status}"
    return bool(status == "succeeded")


def test_one_trace_id_finds_the_request_the_runner_the_job_and_the_spans(
    env: dict[str, str], admin: psycopg.Connection[Any], receiver: Receiver
) -> None:
    traced = {**env, "CHAINLAKE_OTLP_ENDPOINT": receiver.url}
    run_dir, api, token = restart(traced)
    say = {"params": {"do": "say", "message": "hello from the job"}}
    posted = call(api, "POST", "/v1/jobs/acme/behave/runs", token, say, traceparent=TRACEPARENT)
    fresh = call(api, "POST", "/v1/jobs/acme/behave/runs", token, say)  # no traceparent
    assert posted[0] == fresh[0] == 201, (posted, fresh)
    run_id, fresh_id = posted[1]["id"], fresh[1]["id"]
    wait_for(lambda: succeeded(admin, run_id) and succeeded(admin, fresh_id), timeout=120)

    # the run: its trace id is the caller's; the other run got a fresh one of its own
    shown = call(api, "GET", f"/v1/runs/{run_id}", token)[1]
    assert shown["trace_id"] == TRACE_ID, shown
    other = call(api, "GET", f"/v1/runs/{fresh_id}", token)[1]["trace_id"]
    assert len(other) == 32 and other != TRACE_ID, other
    assert f"trace_id           {TRACE_ID}" in ok("run", "show", run_id, env=env)

    # the job's events, through the API: each carries it; the job was given it (ctx.trace_id)
    events = [
        item["event"] for item in call(api, "GET", f"/v1/runs/{run_id}/logs", token)[1]["items"]
    ]
    said = [e for e in events if e["type"] == "log" and "hello from the job" in e["message"]]
    assert said and said[0]["message"].endswith(f"(trace {TRACE_ID})"), events
    assert all(e.get("trace_id") == TRACE_ID for e in events), events

    # spans: the API's request and the runner's attempt with its phases, in the run's trace
    def spans() -> bool:
        names = receiver.of(TRACE_ID)
        runner = {name for service, name in names if service == "chainlake-runner"}
        return runner >= PHASES | {"attempt"} and any(s == "chainlake-api" for s, _ in names)

    try:
        wait_for(spans, timeout=60, every=0.2)
    except AssertionError:
        raise AssertionError(f"spans of {TRACE_ID} received: {receiver.of(TRACE_ID)}") from None
    assert ("chainlake-api", "POST /v1/jobs/{org}/{name}/runs") in receiver.of(TRACE_ID)
    ok("down", env=traced)

    # the logs: the access line of the POST and the runner's lines about the run carry it
    access = [r for r in lines_of(run_dir / "api.log") if r["logger"] == "chainlake.api.access"]
    assert [r for r in access if r["status"] == 201 and r.get("trace_id") == TRACE_ID], access
    runner = [r for r in lines_of(run_dir / "runner.log") if r.get("run_id") == run_id]
    assert runner and all(r.get("trace_id") == TRACE_ID for r in runner if "job" in r), runner
    assert [r for r in runner if r["msg"].startswith("attempt phases")], runner


@contextmanager
def runner_with(env: dict[str, str], log: Path) -> Iterator[None]:
    """`chainlake runner` in the foreground with `env`, its lines in `log`, stopped at the end."""
    with log.open("ab") as out:
        runner = subprocess.Popen(
            [CHAINLAKE, "runner"], env={**os.environ, **env}, stdout=out, stderr=out
        )
    try:
        yield
    finally:
        runner.terminate()
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()


def runs_succeed(api: str, token: str, admin: psycopg.Connection[Any], count: int) -> None:
    body = {"params": {"do": "ok"}}
    started = [call(api, "POST", "/v1/jobs/acme/behave/runs", token, body) for _ in range(count)]
    assert all(status == 201 for status, _ in started), started
    ids = [found["id"] for _, found in started]
    wait_for(lambda: all(succeeded(admin, run_id) for run_id in ids), timeout=120)


def test_a_malformed_endpoint_is_one_line_and_a_closed_one_costs_no_run(
    env: dict[str, str], admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    ok("job", "apply", str(TEST_JOBS / "behave.yaml"), "--org", "acme", env=env)
    api = "http://127.0.0.1:" + (Path(env["CHAINLAKE_HOME"]) / "run" / "api.port").read_text()
    token = ok("token", "--user", "ann@acme.example", env=env).strip()

    # malformed (no scheme): one line naming the setting and the fix; the runner runs untraced
    malformed = {**env, "CHAINLAKE_OTLP_ENDPOINT": "localhost:4318"}
    with runner_with(malformed, tmp_path / "malformed.log"):
        runs_succeed(api.strip(), token, admin, 1)
    lines = lines_of(tmp_path / "malformed.log")
    said = [r for r in lines if "CHAINLAKE_OTLP_ENDPOINT" in r["msg"]]
    assert len(said) == 1 and "http://127.0.0.1:4318" in said[0]["msg"], said
    assert not [r for r in lines if r["msg"].startswith("tracing on")], lines

    # nobody listens at the endpoint: the spans cannot be sent, the runs succeed all the same
    closed = {**env, "CHAINLAKE_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    log = tmp_path / "closed.log"
    with runner_with(closed, log):
        runs_succeed(api.strip(), token, admin, 3)
        assert [r for r in lines_of(log) if r["msg"].startswith("tracing on")], log.read_text()

        def export_failed() -> bool:  # there were spans to send, and they were not
            return any(r["logger"].startswith("opentelemetry") for r in lines_of(log))

        wait_for(export_failed, timeout=60, every=0.2)
