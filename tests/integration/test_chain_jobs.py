"""Chain data as job input: reactive jobs run on ingested block ranges of two chains side by side,
and a combine job joins them; a reorg re-runs the jobs over the rewritten range."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

from chainlake import jobdefs
from chainlake.errors import PermissionDenied
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from tests.chainkit import chain_config, running_ingest, stored_tip, wait_until
from tests.runtime import TEST_JOBS, request_run, running_runner
from tests.tenants import Tenants


def gas_job(chain_id: int) -> dict[str, Any]:
    return {
        "name": f"gas-{chain_id}",
        "version": "1",
        "kind": "reactive",
        "type": "transform",
        "input_datasets": ["chain.blocks"],
        "output_datasets": [f"gas_{chain_id}"],
        "chain_input": {"chain_ids": [chain_id], "min_interval_seconds": 0.5},
        "launcher": {
            "kind": "process",
            "command": ["python", str(TEST_JOBS / "chain_gas.py"), "gas"],
        },
        "config": {"output": f"gas_{chain_id}"},
        "timeout_seconds": 60,
    }


COMBINE = {
    "name": "combine-gas",
    "version": "1",
    "kind": "reactive",
    "type": "combine",
    "input_datasets": ["gas_1001", "gas_1002"],
    "output_datasets": ["gas_both"],
    "launcher": {
        "kind": "process",
        "command": ["python", str(TEST_JOBS / "chain_gas.py"), "combine"],
    },
    "timeout_seconds": 60,
}


def rows_of(admin: psycopg.Connection[Any], org_id: str, dataset: str) -> list[dict[str, Any]]:
    row = admin.execute(
        "SELECT v.uris FROM catalog.asset_versions v JOIN catalog.datasets d "
        "ON d.org_id = v.org_id AND d.id = v.dataset_id AND d.current_version = v.version "
        "WHERE d.org_id = %s AND d.name = %s",
        (org_id, dataset),
    ).fetchone()
    if row is None:
        return []
    return [
        json.loads(line)
        for uri in row[0]
        for line in Path(urlparse(uri).path).read_text().splitlines()
    ]


def test_two_chains_feed_reactive_jobs_and_a_combine_job_joins_them(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    org = tenants.org_ids["a"]
    with tenants.login(tenants.user("a", "writer")) as conn:
        for spec in (gas_job(1001), gas_job(1002), COMBINE):
            jobdefs.apply(conn, org, spec)
    ingest_url = tenants.cluster.url(tenants.database, "chainlake_ingest")
    with (
        Anvil(free_port(), chain_id=1001) as one,
        Anvil(free_port(), chain_id=1002) as two,
        running_ingest(chain_config(one.url, 1001), ingest_url),
        running_ingest(chain_config(two.url, 1002), ingest_url),
        running_runner(tenants, tmp_path / "storage"),
    ):
        wait_until(lambda: stored_tip(admin, 1001) >= 5 and stored_tip(admin, 1002) >= 5, 30)
        wait_until(lambda: len(rows_of(admin, org, "gas_both")) >= 1, 60, "a joined row")
        # a reorg on chain 1001: the rewritten blocks are given to gas-1001 again
        tip = stored_tip(admin, 1001)
        wait_until(lambda: covered_to(admin, org) >= tip, 90, "gas-1001 to catch up")
        rpc_reorg(one.url, 3)
        wait_until(lambda: admin.execute("SELECT 1 FROM chain.reorgs").fetchone(), 90, "reorg")
        wait_until(lambda: rerun_after_reorg(admin, org), 90, "a run over the reorged blocks")
    joined = rows_of(admin, org, "gas_both")
    assert all(set(r) == {"number", "gas_1001", "gas_1002"} for r in joined)
    one_rows = rows_of(admin, org, "gas_1001")
    assert one_rows and {r["chain_id"] for r in one_rows} == {1001}, "only its own chain"
    # every block of chain 1001 went to exactly one run of gas-1001 (ranges neither gap nor overlap)
    ranges = gas_ranges(admin, org)
    assert ranges[0][0] == 0
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start <= end + 1, f"blocks {end + 1}..{start - 1} went to no run: {ranges}"


def gas_ranges(admin: psycopg.Connection[Any], org: str) -> list[tuple[int, int]]:
    """The block ranges given to gas-1001, in the order its runs were queued."""
    return [
        (r[0]["from_block"], r[0]["to_block"])
        for (r,) in admin.execute(
            "SELECT inputs FROM runs.runs WHERE org_id = %s AND job_name = 'gas-1001' "
            "ORDER BY created_at",
            (org,),
        )
    ]


def rerun_after_reorg(admin: psycopg.Connection[Any], org: str) -> bool:
    """A run of gas-1001 that started after the reorg was corrected, over the rewritten blocks
    (a queued run's range may have been widened down to them)."""
    return bool(
        admin.execute(
            "SELECT 1 FROM runs.runs r, chain.reorgs g WHERE r.org_id = %s "
            "AND r.job_name = 'gas-1001' AND r.started_at > g.detected_at "
            "AND (r.inputs -> 0 ->> 'from_block')::bigint <= g.fork_block + 1 "
            "AND r.status = 'succeeded'",
            (org,),
        ).fetchone()
    )


def covered_to(admin: psycopg.Connection[Any], org: str) -> int:
    return max((end for _, end in gas_ranges(admin, org)), default=-1)


def rpc_reorg(url: str, depth: int) -> None:
    from chainlake.chain.rpc import RpcClient

    RpcClient([url]).call("anvil_reorg", [depth, []])


def test_the_chain_writer_credential_goes_to_the_system_orgs_runs_only(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    spec = {
        "name": "wants-chain-writer",
        "version": "1",
        "kind": "source",
        "secrets": ["chain_writer"],
        "launcher": {"kind": "process", "command": ["python", str(TEST_JOBS / "credential.py")]},
        "timeout_seconds": 60,
    }
    admin.execute("SELECT core.set_system_org('b')")
    with (
        tenants.login(tenants.user("a", "writer")) as conn,
        pytest.raises(PermissionDenied, match="platform credentials"),
    ):
        jobdefs.apply(conn, tenants.org_ids["a"], spec)
    # defence in depth: a definition that got in anyway (as the operator, before this rule)
    # is still refused its credential at launch
    admin.execute(
        "INSERT INTO jobs.definitions (org_id, name, version, spec) VALUES (%s, %s, '1', %s)",
        (tenants.org_ids["a"], spec["name"], json.dumps(spec)),
    )
    with tenants.login(tenants.user("b", "writer")) as conn:
        jobdefs.apply(conn, tenants.org_ids["b"], spec)
    runs = {}
    for org in ("a", "b"):
        runs[org] = request_run(tenants, tenants.user(org, "writer"), "wants-chain-writer")["id"]
    with running_runner(
        tenants, tmp_path / "storage", chain_database_url="postgresql:///chain-writer"
    ):

        def finished() -> list[Any]:
            return admin.execute(
                "SELECT org_id, status, error, metadata FROM runs.runs WHERE id = ANY(%s) "
                "AND status IN ('succeeded', 'dead')",
                (list(runs.values()),),
            ).fetchall()

        wait_until(lambda: len(finished()) == 2, 60, "both runs to finish")
    outcome = {str(r[0]): r[1:] for r in finished()}
    refused = outcome[tenants.org_ids["a"]]
    assert refused[0] == "dead" and "chain_writer is a platform credential" in refused[1]["message"]
    granted = outcome[tenants.org_ids["b"]]
    assert granted[0] == "succeeded" and granted[2] == {"has_chain_writer": True}
