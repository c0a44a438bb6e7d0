"""The trace context and the tracing setting: an incoming `traceparent` is honoured when it is
well formed and replaced by a fresh trace when it is not (never an error: the standard says so);
CHAINLAKE_OTLP_ENDPOINT values that are no OTLP/HTTP base URL are each one WARNING line naming
the setting and the fix, and tracing stays off; unset, nothing is said and nothing is traced."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from chainlake import tracecontext, tracing
from chainlake.manifests import write_manifest

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_well_formed_traceparent_is_honoured_and_a_bad_one_starts_a_fresh_trace() -> None:
    given = tracecontext.from_traceparent(f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01")
    assert (given.trace_id, given.parent_id) == (TRACE_ID, "00f067aa0ba902b7")
    for bad in (
        None,
        "",
        "garbage",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",
    ):
        fresh = tracecontext.from_traceparent(bad)
        assert tracecontext.TRACE_ID.match(fresh.trace_id) and fresh.trace_id != TRACE_ID
        assert fresh.parent_id is None
    made = tracecontext.traceparent(TRACE_ID)
    assert tracecontext.from_traceparent(made).trace_id == TRACE_ID


@pytest.mark.parametrize(
    "value",
    [
        "localhost:4318",
        "ftp://127.0.0.1:4318",
        "http://127.0.0.1",
        "http://127.0.0.1:99999",
        "http:///v1",
        "http://u:p@127.0.0.1:4318",
    ],
)
def test_a_malformed_endpoint_is_one_line_and_tracing_stays_off(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="chainlake.tracing"):
        assert tracing.setup("test", {tracing.ENDPOINT_VARIABLE: value}) is False
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and tracing.ENDPOINT_VARIABLE in said[0], said
    assert "running without tracing" in said[0] and "http://127.0.0.1:4318" in said[0]
    assert tracing.start_span("x", TRACE_ID) is None


def test_unset_is_silent_and_off(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="chainlake.tracing"):
        assert tracing.setup("test", {}) is False
    assert not caplog.records
    assert tracing.endpoint_problem("http://127.0.0.1:4318") is None


def test_a_runs_output_manifest_names_its_trace(tmp_path: Path) -> None:
    run = {"id": "r1", "job_name": "j", "job_version": "1", "trace_id": TRACE_ID}
    write_manifest(run, [], tmp_path.as_uri() + "/")
    assert json.loads((tmp_path / "_manifest.json").read_text())["trace_id"] == TRACE_ID
