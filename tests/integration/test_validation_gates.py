"""Validation that gates (issue 16): a reactive job of type `validate` checks each new version of
the dataset it reads before the version propagates. While it runs, and when it fails, dependants
are not queued on that version and keep the last valid one; the failure is visible on the
dataset; a fixed rerun of the validator releases the version. Runs are driven through the
runner's own functions (start, complete, fail)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from chainlake import jobdefs
from tests.runtime import request_run
from tests.tenants import Tenants

LAUNCHER = {"kind": "process", "command": ["true"]}
RAW = {"name": "raw", "version": "1", "kind": "source", "type": "ingest",
       "output_datasets": ["raw"], "launcher": LAUNCHER}  # fmt: skip
SIDE = {"name": "side", "version": "1", "kind": "source", "type": "ingest",
        "output_datasets": ["side"], "launcher": LAUNCHER}  # fmt: skip
CHECK = {"name": "check_raw", "version": "1", "kind": "reactive", "type": "validate",
         "input_datasets": ["raw"], "launcher": LAUNCHER}  # fmt: skip
USE = {"name": "use_raw", "version": "1", "kind": "reactive", "type": "combine",
       "input_datasets": ["raw", "side"], "output_datasets": ["used"],
       "launcher": LAUNCHER}  # fmt: skip


def define(tenants: Tenants, *specs: dict[str, Any]) -> None:
    with tenants.login(tenants.user("a", "writer")) as conn:
        for spec in specs:
            jobdefs.apply(conn, tenants.org_ids["a"], spec)


def start(tenants: Tenants, run_id: str) -> dict[str, Any]:
    with tenants.runner("a") as cur:
        run, verdict = cur.execute(
            "SELECT run, verdict FROM runs.start(%s, 'test', 60)", (run_id,)
        ).fetchone() or (None, None)
    assert verdict == "run" and run is not None, verdict
    return dict(run)


def succeed(tenants: Tenants, run_id: str, dataset: str | None = None) -> None:
    run = start(tenants, run_id)
    outputs = [] if dataset is None else [{
        "dataset": dataset, "uris": [f"file:///data/{run_id}.jsonl"], "rows": 1,
        "content_hash": run_id}]  # fmt: skip
    with tenants.runner("a") as cur:
        cur.execute(
            "SELECT runs.complete(%s, %s, %s)", (run_id, run["attempt"], json.dumps(outputs))
        )


def fail(tenants: Tenants, run_id: str, message: str) -> None:
    run = start(tenants, run_id)
    error = {"type": "ValidationFailed", "message": message}
    with tenants.runner("a") as cur:
        cur.execute(
            "SELECT runs.fail(%s, %s, %s, false)", (run_id, run["attempt"], json.dumps(error))
        )


def produce(tenants: Tenants, job: str) -> None:
    succeed(tenants, str(request_run(tenants, tenants.user("a", "writer"), job)["id"]), job)


def queued(admin: psycopg.Connection[Any], job: str) -> list[dict[str, Any]]:
    with admin.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM runs.runs WHERE job_name = %s AND status = 'queued' ORDER BY created_at",
            (job,),
        ).fetchall()


def given(run: dict[str, Any]) -> dict[str, int]:
    return {i["dataset"]: i["version"] for i in run["inputs"]}


def holds(tenants: Tenants) -> list[dict[str, Any]]:
    with (
        tenants.login(tenants.user("a", "reader")) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        return cur.execute(
            "SELECT * FROM catalog.validation_holds(%s)", (tenants.org_ids["a"],)
        ).fetchall()


def test_a_failed_validation_holds_the_version_back_until_a_fixed_rerun_releases_it(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    define(tenants, RAW, SIDE, CHECK, USE)
    produce(tenants, "side")
    (use,) = queued(admin, "use_raw")
    succeed(tenants, str(use["id"]), "used")
    produce(tenants, "raw")  # raw v1: only its validator is queued
    assert queued(admin, "use_raw") == []
    (check,) = queued(admin, "check_raw")
    assert [h["state"] for h in holds(tenants)] == ["pending"]
    succeed(tenants, str(check["id"]))  # passed: released to its dependants
    (use,) = queued(admin, "use_raw")
    assert given(use) == {"raw": 1, "side": 1}
    succeed(tenants, str(use["id"]), "used")

    produce(tenants, "raw")  # raw v2 fails its validation
    (check,) = queued(admin, "check_raw")
    fail(tenants, str(check["id"]), "3 rows have a negative amount")
    assert queued(admin, "use_raw") == [], "a failed version does not propagate"
    (held,) = holds(tenants)
    assert (held["dataset"], held["version"], held["state"], held["job"]) == (
        "raw",
        2,
        "failed",
        "check_raw",
    )
    assert held["error"] == "3 rows have a negative amount"
    assert held["dependants_read"] == 1, "dependants keep the last valid version"

    produce(tenants, "side")  # another input changes: the dependant reads raw v1, not v2
    (use,) = queued(admin, "use_raw")
    assert given(use) == {"raw": 1, "side": 2}
    succeed(tenants, str(use["id"]), "used")

    define(tenants, {**CHECK, "version": "2"})  # the fix, then a rerun of the failed check
    with tenants.login(tenants.user("a", "writer")) as conn:
        again = conn.execute("SELECT id FROM runs.rerun(%s)", (check["id"],)).fetchone()
    assert again is not None
    succeed(tenants, str(again[0]))
    (use,) = queued(admin, "use_raw")
    assert given(use) == {"raw": 2, "side": 2}, "released"
    assert holds(tenants) == []


def test_versions_from_before_a_validator_existed_are_not_held(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    define(tenants, RAW, SIDE, USE)
    produce(tenants, "raw")
    produce(tenants, "side")
    for run in queued(admin, "use_raw"):
        succeed(tenants, str(run["id"]), "used")
    define(tenants, CHECK)
    produce(tenants, "side")
    (use,) = queued(admin, "use_raw")
    assert given(use) == {"raw": 1, "side": 2}
