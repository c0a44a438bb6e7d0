"""Derived data through reorgs, in stored logic (issue 16): block-range partitions are ranges whose
current versions never overlap; a reorg supersedes every current range it reaches, in every
dataset, in the rewind's transaction, and queues the recompute from the first superseded range; a
run that read blocks a reorg removed never becomes current; a partition that is not the range a
run was given, or overlaps one it was not asked to replace, fails the run naming both; lineage
reaches the chain range and the reorg. Runs are driven through the runner's own functions (start,
record_chain_read, complete) on a synthetic chain, so every case is exact and quick."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from chainlake import jobdefs
from tests.chainkit import SyntheticChain
from tests.tenants import Tenants

CHAIN = 7
FEED = {
    "name": "transfers",
    "version": "1",
    "kind": "reactive",
    "type": "transform",
    "input_datasets": ["chain.logs", "chain.blocks"],
    "output_datasets": ["transfers"],
    "chain_input": {"chain_ids": [CHAIN]},
    "launcher": {"kind": "process", "command": ["true"]},
}
HOURLY = {
    "name": "hourly",
    "version": "1",
    "kind": "reactive",
    "type": "summarize",
    "input_datasets": ["transfers"],
    "output_datasets": ["hourly"],
    "launcher": {"kind": "process", "command": ["true"]},
}


@pytest.fixture
def chain(admin: psycopg.Connection[Any]) -> SyntheticChain:
    return SyntheticChain(admin, CHAIN)


def define(tenants: Tenants, *specs: dict[str, Any]) -> None:
    with tenants.login(tenants.user("a", "writer")) as conn:
        for spec in specs:
            jobdefs.apply(conn, tenants.org_ids["a"], spec)


def queued(admin: psycopg.Connection[Any], job: str) -> list[dict[str, Any]]:
    with admin.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM runs.runs WHERE job_name = %s AND status = 'queued' ORDER BY created_at",
            (job,),
        ).fetchall()


def block_range(run: dict[str, Any]) -> tuple[int, int]:
    return run["inputs"][0]["from_block"], run["inputs"][0]["to_block"]


def start(tenants: Tenants, run_id: str) -> dict[str, Any]:
    with tenants.runner("a") as cur:
        row = cur.execute("SELECT run, verdict FROM runs.start(%s, 'test', 60)", (run_id,))
        run, verdict = row.fetchone() or (None, None)
    assert verdict == "run" and run is not None, verdict
    return dict(run)


def read_chain(tenants: Tenants, run: dict[str, Any]) -> None:
    """What the runner records as it exports each chain input (the same stored functions)."""
    with tenants.runner("a") as cur:
        for item in run["inputs"]:
            ends = cur.execute(
                "SELECT * FROM chain.range_ends(%s, %s, %s)",
                (item["chain_id"], item["from_block"], item["to_block"]),
            ).fetchone()
            assert ends is not None
            cur.execute(
                "SELECT runs.record_chain_read(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (run["id"], run["attempt"], item["dataset"], item["chain_id"],
                 item["from_block"], item["to_block"], *ends),
            )  # fmt: skip


def complete(tenants: Tenants, run: dict[str, Any], dataset: str, partition: str | None) -> None:
    output: dict[str, Any] = {
        "dataset": dataset,
        "uris": [f"file:///data/{run['id']}/{dataset}.jsonl"],
        "rows": 1,
        "content_hash": f"{dataset}:{run['id']}",
    }
    if partition is not None:
        output["partition"] = partition
    with tenants.runner("a") as cur:
        cur.execute(
            "SELECT runs.complete(%s, %s, %s)", (run["id"], run["attempt"], json.dumps([output]))
        )


def run_chain_job(tenants: Tenants, run_id: str, partition: str | None = None) -> dict[str, Any]:
    run = start(tenants, run_id)
    read_chain(tenants, run)
    first, last = block_range(run)
    complete(tenants, run, "transfers", f"{first}-{last}" if partition is None else partition)
    return run


def run_hourly(tenants: Tenants, admin: psycopg.Connection[Any]) -> None:
    """Every queued run of `hourly`, each writing the partition of its input."""
    for waiting in queued(admin, "hourly"):
        run = start(tenants, str(waiting["id"]))
        complete(tenants, run, "hourly", run["inputs"][0]["partition"])


def current_ranges(admin: psycopg.Connection[Any], dataset: str) -> list[str]:
    return [
        r[0]
        for r in admin.execute(
            "SELECT v.partition FROM catalog.asset_versions v JOIN catalog.datasets d "
            "ON d.org_id = v.org_id AND d.id = v.dataset_id WHERE d.name = %s "
            "AND v.superseded_at IS NULL ORDER BY lower(v.blocks)",
            (dataset,),
        )
    ]


def superseded(admin: psycopg.Connection[Any], dataset: str) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in admin.execute(
            "SELECT v.partition, v.superseded_reason FROM catalog.asset_versions v "
            "JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id "
            "WHERE d.name = %s AND v.superseded_at IS NOT NULL ORDER BY v.version",
            (dataset,),
        )
    ]


def queryable_uris(admin: psycopg.Connection[Any], dataset: str) -> list[str]:
    row = admin.execute(
        "SELECT uris FROM catalog.queryable_datasets() WHERE dataset = %s", (dataset,)
    ).fetchone()
    return sorted(row[0]) if row else []


def uris_of(admin: psycopg.Connection[Any], dataset: str, partitions: list[str]) -> list[str]:
    return sorted(
        u
        for (uris,) in admin.execute(
            "SELECT v.uris FROM catalog.asset_versions v JOIN catalog.datasets d "
            "ON d.org_id = v.org_id AND d.id = v.dataset_id WHERE d.name = %s "
            "AND v.partition = ANY(%s) AND v.superseded_at IS NULL",
            (dataset, partitions),
        )
        for u in uris
    )


def two_partitions_derived(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    """Blocks 0..20 in two batches, each given to `transfers`, each summarized by `hourly`."""
    define(tenants, FEED, HOURLY)
    chain.extend(0, 9)
    run_chain_job(tenants, str(queued(admin, "transfers")[0]["id"]))
    chain.extend(10, 20)
    run_chain_job(tenants, str(queued(admin, "transfers")[0]["id"]))
    run_hourly(tenants, admin)
    assert current_ranges(admin, "transfers") == ["0-9", "10-20"]
    assert current_ranges(admin, "hourly") == ["0-9", "10-20"]


def test_a_reorg_supersedes_every_range_it_reaches_and_the_recompute_covers_each_block_once(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    two_partitions_derived(tenants, admin, chain)
    chain.reorg(fork=15, new_head=22, branch="b")
    # in the rewind's transaction: both datasets' ranges reaching block 16 are superseded
    assert current_ranges(admin, "transfers") == ["0-9"]
    assert current_ranges(admin, "hourly") == ["0-9"]
    assert superseded(admin, "transfers") == [("10-20", "reorg")]
    assert superseded(admin, "hourly") == [("10-20", "reorg")]
    # a query sees the consistent state below the reorg, never orphaned rows beside new ones
    assert queryable_uris(admin, "transfers") == uris_of(admin, "transfers", ["0-9"])
    # the recompute starts at the first superseded range, widened to the new branch's head
    (recompute,) = queued(admin, "transfers")
    assert block_range(recompute) == (10, 22)
    assert recompute["trigger"]["recompute"] is True
    run_chain_job(tenants, str(recompute["id"]))
    run_hourly(tenants, admin)
    assert current_ranges(admin, "transfers") == ["0-9", "10-22"]
    assert current_ranges(admin, "hourly") == ["0-9", "10-22"]
    org = tenants.org_ids["a"]
    coverage = admin.execute("SELECT * FROM catalog.coverage(%s, 'hourly')", (org,)).fetchall()
    assert coverage == [(CHAIN, 0, 22, 2, 0)], "each block once, none missing"
    pointer = admin.execute(
        "SELECT v.partition FROM catalog.datasets d JOIN catalog.asset_versions v "
        "ON v.org_id = d.org_id AND v.dataset_id = d.id AND v.version = d.current_version "
        "WHERE d.name = 'transfers'"
    ).fetchone()
    assert pointer == ("10-22",)
    # the next batch continues after the recompute
    chain.extend(23, 25, "b")
    assert [block_range(r) for r in queued(admin, "transfers")] == [(23, 25)]


def test_a_reorg_above_every_range_supersedes_nothing_and_queues_from_the_fork(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    two_partitions_derived(tenants, admin, chain)
    chain.extend(21, 24)  # queued, not yet run: planned on the old branch
    chain.reorg(fork=22, new_head=26, branch="b")
    assert current_ranges(admin, "transfers") == ["0-9", "10-20"]
    stale, fresh = queued(admin, "transfers")
    assert block_range(stale) == (21, 24), "planned before the reorg: left as it was"
    assert block_range(fresh) == (21, 26), "the recompute from that run's first block"
    run_chain_job(tenants, str(fresh["id"]))
    run_chain_job(tenants, str(stale["id"]))  # it ran anyway: its output never becomes current
    assert current_ranges(admin, "transfers") == ["0-9", "10-20", "21-26"]
    assert superseded(admin, "transfers") == [("21-24", "reorg")]


def test_a_run_that_read_blocks_a_reorg_removed_never_becomes_current(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    define(tenants, FEED, HOURLY)
    chain.extend(0, 9)
    run_chain_job(tenants, str(queued(admin, "transfers")[0]["id"]))
    chain.extend(10, 20)
    in_flight = start(tenants, str(queued(admin, "transfers")[0]["id"]))
    read_chain(tenants, in_flight)  # it has its rows (of the branch about to be orphaned)
    chain.reorg(fork=15, new_head=21, branch="b")
    complete(tenants, in_flight, "transfers", "10-20")
    assert superseded(admin, "transfers") == [("10-20", "reorg")]
    assert current_ranges(admin, "transfers") == ["0-9"]
    assert queued(admin, "hourly") == [
        r for r in queued(admin, "hourly") if r["inputs"][0]["partition"] == "0-9"
    ], "nothing downstream runs on what the reorg overtook"
    (recompute,) = queued(admin, "transfers")
    assert block_range(recompute) == (10, 21)


def test_a_run_completing_while_a_reorg_commits_never_becomes_current(
    tenants: Tenants, admin: psycopg.Connection[Any], admin_url: str, chain: SyntheticChain
) -> None:
    """The race a loaded machine hit: the runner records a run's outputs while the rewind of the
    blocks it read is in flight. The recording waits for the rewind and then sees it; it never
    checks "not overtaken" before the rewind commits and commits after the rewind looked."""
    define(tenants, FEED)
    chain.extend(0, 9)
    run_chain_job(tenants, str(queued(admin, "transfers")[0]["id"]))
    chain.extend(10, 20)
    in_flight = start(tenants, str(queued(admin, "transfers")[0]["id"]))
    read_chain(tenants, in_flight)
    with psycopg.connect(admin_url) as rewinding:  # the rewind's transaction, not yet committed
        rewinding.execute("SELECT chain.rewind(%s, 15, '{}')", (CHAIN,))
        recording = threading.Thread(
            target=complete, args=(tenants, in_flight, "transfers", "10-20")
        )
        recording.start()
        deadline = time.monotonic() + 30
        while recording.is_alive() and time.monotonic() < deadline:
            if waiting_on_a_lock(admin, "chainlake_runner"):
                break
            time.sleep(0.02)
        rewinding.commit()
        recording.join(30)
    assert not recording.is_alive()
    assert superseded(admin, "transfers") == [("10-20", "reorg")]
    assert current_ranges(admin, "transfers") == ["0-9"], "the old branch's range is not current"
    (recompute,) = queued(admin, "transfers")
    assert block_range(recompute)[0] == 10, "the recompute covers the range the reorg reached"


def waiting_on_a_lock(admin: psycopg.Connection[Any], role: str) -> bool:
    return bool(
        admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE usename = %s AND wait_event_type = 'Lock'",
            (role,),
        ).fetchone()
    )


def test_a_partition_that_is_not_the_range_given_fails_the_run_naming_both(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    define(tenants, FEED)
    chain.extend(0, 9)
    run = start(tenants, str(queued(admin, "transfers")[0]["id"]))
    complete(tenants, run, "transfers", "0-12")
    row = admin.execute("SELECT status, error FROM runs.runs WHERE id = %s", (run["id"],))
    status, error = row.fetchone() or (None, None)
    assert status == "dead" and error is not None
    assert error["type"] == "PartitionRejected"
    assert error["message"] == (
        "output transfers reports partition 0-12, which is not the block range it was given "
        "(0-9 of chain 7)"
    )
    assert current_ranges(admin, "transfers") == [] and superseded(admin, "transfers") == []


def test_an_overlap_with_a_range_not_asked_to_replace_fails_the_run_naming_both(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    define(tenants, FEED)
    chain.extend(0, 9)
    run_chain_job(tenants, str(queued(admin, "transfers")[0]["id"]))
    chain.extend(10, 20)
    run_chain_job(tenants, str(queued(admin, "transfers")[0]["id"]))
    # a run given blocks 5..15 (as the operator could queue one), reporting no partition
    inputs = [{"dataset": "chain.logs", "chain_id": CHAIN, "from_block": 5, "to_block": 15}]
    made = admin.execute(
        "SELECT id FROM runs.enqueue(%s, 'transfers', '{}', '{\"kind\": \"manual\"}', %s, 'x')",
        (tenants.org_ids["a"], json.dumps(inputs)),
    ).fetchone()
    assert made is not None
    run = start(tenants, str(made[0]))
    complete(tenants, run, "transfers", None)
    error = admin.execute("SELECT error FROM runs.runs WHERE id = %s", (run["id"],)).fetchone()
    assert error is not None and error[0]["message"] == (
        "output transfers partition 5-15 overlaps the current partition 0-9 (version 1), "
        "which this run was not asked to replace"
    )
    assert current_ranges(admin, "transfers") == ["0-9", "10-20"]
    # the same range is replaced: a rerun of the second run
    again = admin.execute("SELECT id FROM runs.rerun(%s)", (queued_or_done(admin, 10),))
    rerun = start(tenants, str((again.fetchone() or [None])[0]))
    complete(tenants, rerun, "transfers", None)
    assert current_ranges(admin, "transfers") == ["0-9", "10-20"]
    assert superseded(admin, "transfers") == [("10-20", "replaced")]


def queued_or_done(admin: psycopg.Connection[Any], first_block: int) -> str:
    row = admin.execute(
        "SELECT id FROM runs.runs WHERE job_name = 'transfers' AND status = 'succeeded' "
        "AND (inputs -> 0 ->> 'from_block')::bigint = %s",
        (first_block,),
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_lineage_reaches_the_chain_range_its_hashes_and_the_reorg_that_superseded_it(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    two_partitions_derived(tenants, admin, chain)
    orphaned_last = chain.hash(20)
    chain.reorg(fork=15, new_head=22, branch="b")
    org = tenants.org_ids["a"]
    with (
        tenants.login(tenants.user("a", "reader")) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        version = cur.execute(
            "SELECT v.version FROM catalog.asset_versions v JOIN catalog.datasets d "
            "ON d.org_id = v.org_id AND d.id = v.dataset_id WHERE d.name = 'hourly' "
            "AND v.partition = '10-20'"
        ).fetchone()
        assert version is not None
        edges = cur.execute(
            "SELECT * FROM catalog.lineage(%s, 'hourly', %s, false, 5)", (org, version["version"])
        ).fetchall()
    hourly_edge, *chain_edges = edges
    assert hourly_edge["input_dataset"] == "transfers"
    superseded_by = hourly_edge["output_state"]["superseded"]
    assert superseded_by["reason"] == "reorg" and superseded_by["fork_block"] == 15
    assert {e["input_dataset"] for e in chain_edges} == {"chain.logs", "chain.blocks"}
    read = chain_edges[0]["input_range"]
    assert (read["chain_id"], read["from_block"], read["to_block"]) == (CHAIN, 10, 20)
    assert read["first_hash"] == "0x" + chain.block_hash(10, "a").hex()
    assert read["last_hash"] == "0x" + orphaned_last.hex()
    assert read["invalidated_by"]["fork_block"] == 15
    assert chain_edges[0]["output_state"]["range"] == {
        "chain_id": CHAIN,
        "from_block": 10,
        "to_block": 20,
    }


def test_a_repair_that_drops_hot_blocks_supersedes_like_a_reorg(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    two_partitions_derived(tenants, admin, chain)
    admin.execute("SELECT chain.drop_hot_from(%s, 18)", (CHAIN,))
    assert current_ranges(admin, "transfers") == ["0-9"]
    (recompute,) = queued(admin, "transfers")
    assert block_range(recompute) == (10, 17), "what is still stored, until ingest writes more"


def test_a_rollback_to_a_version_a_reorg_superseded_is_refused(
    tenants: Tenants, admin: psycopg.Connection[Any], chain: SyntheticChain
) -> None:
    two_partitions_derived(tenants, admin, chain)
    chain.reorg(fork=15, new_head=22, branch="b")
    orphaned = admin.execute(
        "SELECT v.version FROM catalog.asset_versions v JOIN catalog.datasets d "
        "ON d.org_id = v.org_id AND d.id = v.dataset_id "
        "WHERE d.name = 'transfers' AND v.partition = '10-20'"
    ).fetchone()
    assert orphaned is not None
    with (
        tenants.login(tenants.user("a", "writer")) as conn,
        pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as refused,
    ):
        conn.execute(
            "SELECT catalog.rollback(%s, 'transfers', %s)", (tenants.org_ids["a"], orphaned[0])
        )
    assert str(refused.value).startswith(
        f"version {orphaned[0]} (blocks 10-20 of chain 7) was built from blocks that the "
        "invalidation of blocks 16..20 of chain 7 removed"
    )
    assert current_ranges(admin, "transfers") == ["0-9"]
