"""Reorgs through the real CLI (issue 16): a chain job run by a real runner on a synthetic chain;
after a reorg, `asset status` shows the superseded partition and that it waits for its
recompute, `chain status` the last reorg and the dataset it invalidated; once recomputed, the
dataset covers every block once; `lineage` walks to the chain range (with its blocks' hashes)
and names the reorg that superseded a version, and OpenLineage carries the range as a facet."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from tests.acceptance.conftest import ok, start_runner
from tests.chainkit import SyntheticChain
from tests.harness import TestCluster
from tests.runtime import TEST_JOBS, wait_for

GAS = f"""name: gas
version: "1"
kind: reactive
type: transform
input_datasets: [chain.blocks]
output_datasets: [gas]
chain_input: {{chain_ids: [7]}}
config: {{output: gas}}
launcher:
  kind: process
  command: [python, {TEST_JOBS / "chain_gas.py"}, gas]
timeout_seconds: 60
"""


def covered(admin: psycopg.Connection[Any], through: int) -> bool:
    row = admin.execute(
        "SELECT c.last_block, c.missing_blocks FROM catalog.datasets d, "
        "catalog.coverage(d.org_id, d.name) c WHERE d.name = 'gas'"
    ).fetchone()
    return row is not None and row[0] >= through and row[1] == 0


def stop(runner: subprocess.Popen[str]) -> None:
    runner.send_signal(signal.SIGTERM)
    runner.wait(timeout=30)


def test_reorg_status_and_lineage_through_the_cli(
    env: dict[str, str],
    runners: list[subprocess.Popen[str]],
    cluster: TestCluster,
    database: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "gas.yaml").write_text(GAS)
    ok("job", "apply", str(tmp_path / "gas.yaml"), "--org", "acme", env=env)
    with psycopg.connect(cluster.url(database), autocommit=True) as admin:
        chain = SyntheticChain(admin, 7)
        runner = start_runner(env, runners)
        chain.extend(0, 9)
        wait_for(lambda: covered(admin, 9), timeout=60)
        chain.extend(10, 20)
        wait_for(lambda: covered(admin, 20), timeout=60)
        stop(runner)
        chain.reorg(fork=15, new_head=22, branch="b")

        status = ok("asset", "status", "--org", "acme", env=env)
        assert "gas v1  fresh" in status  # the current pointer left the superseded version
        assert "  blocks 0-9 of chain 7 in 1 partition(s)" in status
        assert "  superseded by reorg 1 at block 16 of chain 7: 10-20 v2" in status
        assert "  waiting for recompute after a reorg: 10-20 v2" in status
        chains = ok("chain", "status", env=env)
        assert "last reorg 1: 5 block(s) from block 16 at " in chains
        assert "invalidated: acme/gas (1 partition(s))" in chains

        start_runner(env, runners)
        wait_for(lambda: covered(admin, 22), timeout=60)
        status = ok("asset", "status", "--org", "acme", env=env)
        assert "  blocks 0-22 of chain 7 in 2 partition(s)" in status
        assert "waiting" not in status
        first, last = chain.hash(10).hex(), chain.hash(22).hex()
        orphaned_last = chain.block_hash(20, "a").hex()

    old = ok("lineage", "gas", "--org", "acme", "--version", "2", env=env)
    assert old.startswith(
        f"chain.blocks blocks 10-20 of chain 7 (0x{first}..0x{orphaned_last}) "
        "[orphaned: reorg 1 at block 16 of chain 7] -> gas 1 (run "
    )
    assert old.rstrip().endswith("-> gas v2  [superseded by reorg 1 at block 16 of chain 7]")
    new = ok("lineage", "gas", "--org", "acme", env=env)
    assert new.startswith(f"chain.blocks blocks 10-22 of chain 7 (0x{first}..0x{last}) -> gas 1")
    (event,) = [json.loads(line) for line in ok(
        "lineage", "gas", "--org", "acme", "--openlineage", env=env).splitlines()]  # fmt: skip
    (read,) = event["inputs"]
    assert read["namespace"] == "chainlake://chain/7" and read["name"] == "chain.blocks"
    facet = read["facets"]["chainlake_blockRange"]
    assert (facet["chainId"], facet["fromBlock"], facet["toBlock"]) == (7, 10, 22)
    assert (facet["firstBlockHash"], facet["lastBlockHash"]) == (f"0x{first}", f"0x{last}")
    (output,) = event["outputs"]
    assert output["facets"]["chainlake_blockRange"]["toBlock"] == 22
