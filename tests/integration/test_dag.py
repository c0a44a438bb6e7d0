"""A DAG of three jobs in two languages: numbers (Python SDK, source) -> double (Python SDK,
reactive) -> js_sum (plain Node.js, reactive). One manual run of the first produces one run of
each downstream job, each with its inputs recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from tests.runtime import EXAMPLES, apply, request_run, running_runner, runs, wait_for
from tests.tenants import Tenants


def test_one_manual_run_flows_through_the_dag(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    writer = tenants.user("b", "writer")
    for name in ("numbers", "double", "js_sum"):
        apply(tenants, writer, EXAMPLES / name / "job.yaml")
    org = tenants.org_ids["b"]
    with running_runner(tenants, tmp_path, concurrency=2):
        request_run(tenants, writer, "numbers", {"count": 5})
        done = wait_for(
            lambda: (
                [r for r in runs(admin, org) if r["status"] == "succeeded"]
                if len([r for r in runs(admin, org) if r["status"] == "succeeded"]) == 3
                else None
            )
        )
    assert [r["job_name"] for r in done] == ["numbers", "double", "js_sum"]
    assert len(runs(admin, org)) == 3
    numbers, double, js_sum = done
    assert numbers["trigger"] == {"kind": "manual"} and str(numbers["initiated_by"]) == writer.id
    assert double["trigger"]["upstream_run"] == str(numbers["id"])
    assert [i["dataset"] for i in double["inputs"]] == ["numbers"]
    assert double["inputs"][0]["uris"] == numbers["outputs"][0]["uris"]
    assert js_sum["inputs"][0]["uris"] == double["outputs"][0]["uris"]
    result = json.loads(Path(urlparse(js_sum["outputs"][0]["uris"][0]).path).read_text())
    assert result == {"total": 30, "rows": 5}
    assert js_sum["metadata"] == {"total": 30}
    logs = admin.execute(
        "SELECT event ->> 'message' FROM runs.logs WHERE run_id = %s AND event ->> 'type' = 'log'",
        (numbers["id"],),
    ).fetchall()
    assert logs == [("writing 5 numbers",)]
    # The other orgs saw none of it.
    assert runs(admin, tenants.org_ids["a"]) == []
