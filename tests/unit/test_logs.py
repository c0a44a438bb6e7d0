"""chainlake/logs.py in a real process of its own: every line on stderr is one JSON object, whatever
a message, a traceback or a library says; context fields follow a scope (and threads started in
a copy of it) and leave with it; a scope's redaction covers every field; a bad
CHAINLAKE_LOG_LEVEL is one clear line, and logging goes on at INFO."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SECRET = "p\"a'ss\\wörd✓"
RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def process(body: str, **env: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run `body` after `configure("test")` in a fresh interpreter: its exit code, its stderr
    lines as JSON objects (the test fails on any line that is not one), and its raw stderr."""
    script = "import logging\nfrom chainlake import logs\nlogs.configure('test')\n"
    done = subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        timeout=60,
        check=False,
    )
    lines = []
    for line in done.stderr.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{done.stderr}") from None
    return done.returncode, lines, done.stderr


def test_every_line_is_one_json_object_whatever_it_holds() -> None:
    code, lines, _ = process(
        """
        import threading, warnings
        log = logging.getLogger("chainlake.somewhere")
        log.info('a "quoted" message \\\\ with a backslash,\\na newline and ünïcode ✓')
        try:
            {}["missing"]
        except KeyError:
            log.exception("it failed: %s", 'the "key"')
        log.info("%d apples", "not a number")
        logging.getLogger("botocore.client").info("a line per client made")
        logging.getLogger("urllib3.connectionpool").warning("retrying")
        logging.getLogger("uvicorn.error").error("uvicorn says")
        warnings.warn("deprecated thing")
        crashing = threading.Thread(target=lambda: 1 / 0)
        crashing.start()
        crashing.join()
        raise SystemError('uncaught "at the end"')
        """
    )
    assert code == 1
    assert all({"time", "level", "logger", "process", "msg"} <= line.keys() for line in lines)
    assert all(RFC3339_MS.fullmatch(line["time"]) and line["process"] == "test" for line in lines)
    said = [line["msg"] for line in lines]
    assert said[0] == 'a "quoted" message \\ with a backslash,\na newline and ünïcode ✓'
    failed = lines[1]
    assert failed["level"] == "ERROR" and failed["msg"] == 'it failed: the "key"'
    assert failed["exc"].startswith("Traceback") and "KeyError: 'missing'" in failed["exc"]
    assert "did not format" in said[2]
    assert "a line per client made" not in said  # botocore stays at warnings
    assert "retrying" in said and "uvicorn says" in said
    assert any("deprecated thing" in m for m in said)
    thread = next(line for line in lines if "in thread" in line["msg"])
    assert "ZeroDivisionError" in thread["exc"]
    last = lines[-1]
    assert last["level"] == "CRITICAL" and 'SystemError: uncaught "at the end"' in last["exc"]


def test_context_fields_follow_the_scope_and_threads_started_in_it() -> None:
    _, lines, _ = process(
        """
        import contextvars, threading
        log = logging.getLogger("chainlake.runner")
        log.info("before")
        with logs.log_context(org="o1", run_id="r1"):
            logs.bind(job="j1", trace_id=None)
            log.info("inside")
            with logs.log_context(run_id="r2"):
                log.info("nested")
            worker = threading.Thread(target=contextvars.copy_context().run, args=(
                lambda: (logs.bind(attempt=2), log.info("in a thread")),))
            worker.start(); worker.join()
            log.info("after the thread", extra={"count": 3})
        log.info("after")
        logs.bind(org="nowhere")  # no scope open: nothing
        log.info("last")
        """
    )
    fields = {line["msg"]: {k: line.get(k) for k in ("org", "run_id", "job")} for line in lines}
    assert fields["before"] == fields["after"] == fields["last"] == dict.fromkeys(fields["before"])
    assert fields["inside"] == {"org": "o1", "run_id": "r1", "job": "j1"}
    assert fields["nested"] == {"org": "o1", "run_id": "r2", "job": "j1"}
    assert fields["in a thread"] == {"org": "o1", "run_id": "r1", "job": "j1"}
    after = next(line for line in lines if line["msg"] == "after the thread")
    assert after["count"] == 3 and after["attempt"] == 2  # one scope, shared with its thread
    assert all("trace_id" not in line and "redact" not in line for line in lines)


def test_a_scopes_redaction_covers_message_traceback_and_what_was_said() -> None:
    _, lines, raw = process(
        f"""
        from runner.redaction import Redactor
        secret = {SECRET!r}
        log = logging.getLogger("chainlake.runner")
        # a secret may be an ordinary word: "chainlake", the bucket of a platform job
        redact = Redactor([secret, "chainlake"]).text
        with logs.log_context(run_id="r1", job="chainlake", redact=redact):
            try:
                raise RuntimeError(f"refused with {{secret}}")
            except RuntimeError:
                log.exception("the job said %s", secret, extra={{"detail": [secret]}})
        log.info("outside %s", "plain")
        """
    )
    assert len(lines) == 2
    for form in (SECRET, json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1]):
        assert form not in raw
    inside = lines[0]
    assert inside["msg"] == "the job said [REDACTED]" and inside["detail"] == ["[REDACTED]"]
    assert "RuntimeError: refused with [REDACTED]" in inside["exc"]
    # the names the platform gives the line stay: the logger's, the scope's fields
    assert inside["logger"] == "chainlake.runner" and inside["job"] == "chainlake"
    assert lines[1]["msg"] == "outside plain"


def test_a_bad_level_is_one_clear_line_and_logging_goes_on_at_info() -> None:
    body = """
        logging.getLogger("chainlake.x").debug("quiet")
        logging.getLogger("chainlake.x").info("heard")
        """
    _, lines, _ = process(body, CHAINLAKE_LOG_LEVEL="LOUD")
    assert [line["msg"] for line in lines][1:] == ["heard"]
    assert lines[0]["level"] == "WARNING"
    assert "CHAINLAKE_LOG_LEVEL='LOUD' is not a level: logging at INFO" in lines[0]["msg"]
    assert "DEBUG, INFO, WARNING, ERROR, CRITICAL" in lines[0]["msg"]
    _, lines, _ = process(body, CHAINLAKE_LOG_LEVEL="debug")
    assert [line["msg"] for line in lines] == ["quiet", "heard"]


def test_the_api_logs_a_500s_traceback_in_one_line_and_no_4xx() -> None:
    _, lines, _ = process(
        """
        from litestar import Litestar, get
        from litestar.testing import TestClient
        from api.access import server_errors
        from api.problems import HANDLERS
        from chainlake.errors import NotFound

        @get("/boom/{n:int}")
        async def boom(n: int) -> None:
            raise KeyError(f'a "bug" number {n}')

        @get("/gone")
        async def gone() -> None:
            raise NotFound("no such thing")

        app = Litestar([boom, gone], logging_config=server_errors(), exception_handlers=HANDLERS)
        logs.configure("api")  # again, as api/__main__.py does after create_app
        with TestClient(app) as client:
            assert client.get("/boom/7").status_code == 500
            assert client.get("/gone").status_code == 404
            assert client.get("/nowhere").status_code == 404
        """
    )
    (failed,) = [line for line in lines if line["level"] == "ERROR"]
    assert failed["msg"] == "GET /boom/{n} failed" and failed["logger"] == "chainlake.api"
    assert (
        failed["exc"].startswith("Traceback") and "KeyError: 'a \"bug\" number 7'" in failed["exc"]
    )
