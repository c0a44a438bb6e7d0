"""Jobs and runs through the API with the Python client (chainlake.client.Client): a job applied,
run with params and its logs followed as server-sent events until it succeeds; a queued run
cancelled (and never started); runs listed a page at a time; bad input refused naming the field
with nothing changed; another org's runs and jobs are unknown and unchanged."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake import jobdefs
from chainlake.client import Client
from chainlake.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
)
from tests.integration.conftest import token
from tests.runtime import TEST_JOBS, running_runner, scalar, wait_for
from tests.tenants import Tenants


def client(api: str, tmp_path: Path, tenants: Tenants, org: str, role: str) -> Client:
    return Client(api, token(tmp_path, tenants.user(org, role)))


def behave() -> dict[str, Any]:
    spec = jobdefs.load(TEST_JOBS / "behave.yaml")
    return spec


def test_a_run_through_the_api_from_apply_to_followed_logs(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    wes = client(api, tmp_path, tenants, "a", "writer")
    ann = client(api, tmp_path, tenants, "a", "reader")
    bob = client(api, tmp_path, tenants, "b", "admin")
    applied = wes.apply_job(org="a", definition=behave())
    assert applied == {"org": "a", "name": "behave", "version": "1", "kind": "source"}
    with pytest.raises(PermissionDenied):
        ann.apply_job(org="a", definition={**behave(), "version": "2"})
    with pytest.raises(InvalidInput, match="timeout_seconds"):
        wes.apply_job(org="a", definition={**behave(), "version": "2", "timeout_seconds": -1})
    shown = ann.show_job(org="a", name="behave")
    assert [v["version"] for v in shown["versions"]] == ["1"], "the refused versions left none"
    assert shown["current"]["spec"]["name"] == "behave"
    with pytest.raises(NotFound):
        bob.show_job(org="a", name="behave")
    assert [j["name"] for j in bob.list_jobs(org="a")] == []

    run = wes.run_job(org="a", name="behave", params={"do": "sleep", "seconds": 1})
    assert run["status"] == "queued"
    with pytest.raises(NotFound):
        bob.show_run(run_id=run["id"])
    with pytest.raises(NotFound):
        bob.cancel_run(run_id=run["id"])
    assert bob.list_runs()["items"] == [] or all(r["org"] != "a" for r in bob.list_runs()["items"])
    with running_runner(tenants, tmp_path / "store"):
        events = list(ann.follow_logs(run_id=run["id"], timeout=60))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "end" and events[-1][1]["status"] == "succeeded", events
    logged = [data for kind, data in events if kind == "log"]
    page = ann.run_logs(run_id=run["id"])
    assert [e["seq"] for e in logged] == [e["seq"] for e in page["items"]]
    assert page["status"] == "succeeded"
    done = ann.show_run(run_id=run["id"])
    assert done["status"] == "succeeded" and done["params"] == {"do": "sleep", "seconds": 1}
    assert [a["status"] for a in done["attempts"]] == ["succeeded"]


def test_cancel_paging_and_bad_input(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    wes = client(api, tmp_path, tenants, "a", "writer")
    ann = client(api, tmp_path, tenants, "a", "reader")
    wes.apply_job(org="a", definition=behave())
    queued = [wes.run_job(org="a", name="behave", params={"n": n}) for n in range(3)]

    with pytest.raises(NotFound):  # readers read; only writers change runs
        ann.cancel_run(run_id=queued[0]["id"])
    cancelled = wes.cancel_run(run_id=queued[0]["id"])
    assert cancelled["status"] == "cancelled"
    with pytest.raises(AlreadyExists, match="already cancelled"):
        wes.cancel_run(run_id=queued[0]["id"])
    audited = "SELECT count(*) FROM audit.events WHERE action = 'run.cancel'"
    assert scalar(admin, audited) == 1

    first = ann.list_runs(org="a", job="behave", limit=2)
    assert len(first["items"]) == 2 and first["next"] == first["items"][-1]["id"]
    rest = ann.list_runs(org="a", job="behave", limit=2, after=first["next"])
    seen = [r["id"] for r in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(r["id"] for r in queued) and rest["next"] is None
    assert [r["id"] for r in ann.list_runs(status="cancelled")["items"]] == [queued[0]["id"]]

    before = scalar(admin, "SELECT md5(string_agg(r::text, '|' ORDER BY id)) FROM runs.runs r")
    for bad, field in (
        ({"status": "nope"}, "status"),
        ({"limit": 0}, "limit"),
        ({"after": "not-a-run"}, "after"),
        ({"since": "yesterday"}, "since"),
    ):
        with pytest.raises(InvalidInput, match=field):
            ann.request("GET", "/v1/runs", params=bad)
    with pytest.raises(InvalidInput, match="run_id"):
        wes.request("POST", "/v1/runs/not-a-uuid/cancel")
    with pytest.raises(InvalidInput, match="from_failure"):
        wes.request("POST", f"/v1/runs/{queued[1]['id']}/rerun", json={"from_failure": "x"})
    with pytest.raises(InvalidInput, match="params"):
        wes.request("POST", "/v1/jobs/a/behave/runs", json={"params": [1]})
    after = scalar(admin, "SELECT md5(string_agg(r::text, '|' ORDER BY id)) FROM runs.runs r")
    assert after == before, "bad input changed nothing"

    with ExitStack() as streams:  # a caller follows at most two runs' logs at once
        for _ in range(2):
            follow: dict[str, str | int] = {"follow": "true", "timeout": 20}
            path = f"/v1/runs/{queued[2]['id']}/logs"
            opened = streams.enter_context(ann.http.stream("GET", path, params=follow))
            assert opened.status_code == 200
            assert opened.headers["content-type"].startswith("text/event-stream")
        with pytest.raises(QuotaExceeded, match="already"):
            next(ann.follow_logs(run_id=queued[2]["id"], timeout=20))
        assert wes.run_logs(run_id=queued[2]["id"])["status"] == "queued", "others still read"

    with running_runner(tenants, tmp_path / "store"):
        wait_for(
            lambda: all(wes.show_run(run_id=r["id"])["status"] == "succeeded" for r in queued[1:]),
            timeout=60,
        )
    assert wes.show_run(run_id=queued[0]["id"])["status"] == "cancelled", "never started"
    again = wes.rerun(run_id=queued[1]["id"])
    assert again["queued"] == 1 and again["run"]["job_name"] == "behave"


def _processes_of(run_id: str) -> list[int]:
    """The pids whose environment names this run (the launcher gives each job CHAINLAKE_RUN_ID)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"CHAINLAKE_RUN_ID={run_id}".encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def test_cancelling_a_running_run_stops_its_job(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    wes = client(api, tmp_path, tenants, "a", "writer")
    wes.apply_job(org="a", definition={**behave(), "timeout_seconds": 600})
    with running_runner(tenants, tmp_path / "store", lease_seconds=3):
        run = wes.run_job(org="a", name="behave", params={"do": "hang"})
        wait_for(lambda: wes.show_run(run_id=run["id"])["status"] == "running", timeout=60)
        assert wait_for(lambda: _processes_of(run["id"]), timeout=30), "the job is running"
        assert wes.cancel_run(run_id=run["id"])["status"] == "cancelled"
        # the runner's next heartbeat (a third of its lease) finds the run cancelled: it stops
        # the job long before its 600 s timeout, and records nothing over the cancel
        wait_for(lambda: not _processes_of(run["id"]), timeout=30)
        after = wes.run_job(org="a", name="behave", params={"do": "ok"})
        wait_for(lambda: wes.show_run(run_id=after["id"])["status"] == "succeeded", timeout=60)
    shown = wes.show_run(run_id=run["id"])
    assert shown["status"] == "cancelled" and shown["attempt"] == 1, shown


def test_waiting_for_a_run_is_one_request_that_answers_when_it_ends(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    """GET /v1/runs/{id}?wait=N (the client's await_run, what `job run --wait` does through a
    profile) answers the run once it is final, or as it is after N seconds; a caller holds at
    most four such waits; a bad `wait` is refused naming it."""
    wes = client(api, tmp_path, tenants, "a", "writer")
    bob = client(api, tmp_path, tenants, "b", "admin")
    wes.apply_job(org="a", definition=behave())
    run = wes.run_job(org="a", name="behave", params={"do": "sleep", "seconds": 1})
    assert wes.await_run(run_id=run["id"], seconds=0.5)["status"] == "queued", "no runner yet"
    with pytest.raises(NotFound):
        bob.await_run(run_id=run["id"], seconds=5)
    for bad in (61, -1, "soon"):
        with pytest.raises(InvalidInput, match="wait"):
            wes.request("GET", f"/v1/runs/{run['id']}", params={"wait": bad})

    answers: list[str] = []

    def wait_long() -> None:
        """One of the four long waits; refused while the probe below holds a slot for its 0.2 s
        (on a loaded machine it can reach the API before all four), it asks again."""
        ends = time.monotonic() + 30
        while True:
            try:
                answers.append(wes.await_run(run_id=run["id"], seconds=50)["status"])
                return
            except QuotaExceeded:
                if time.monotonic() > ends:
                    raise
                time.sleep(0.05)

    with ThreadPoolExecutor(4) as pool:
        waits = [pool.submit(wait_long) for _ in range(4)]

        def fifth_refused() -> bool:
            try:
                wes.await_run(run_id=run["id"], seconds=0.2)
            except QuotaExceeded:
                return True
            return False

        assert wait_for(fifth_refused, timeout=20), "a fifth wait is refused while four are held"
        with running_runner(tenants, tmp_path / "store"):
            for waited in waits:
                waited.result(timeout=45)  # long before the 50 s each asked for
    assert answers == ["succeeded"] * 4
    assert wes.await_run(run_id=run["id"], seconds=5)["status"] == "succeeded", "slots given back"
