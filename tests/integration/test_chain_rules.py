"""The chain rules in Postgres hold against bad input: chunk files outside the chain's tree, a
malformed job definition on chain data (it must not stop ingestion), and a chain registered at
its head."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from chainlake.chain.ingest import LiveIngest
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from tests.chainkit import chain_config, stored_tip
from tests.harness import TestCluster


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    with Anvil(free_port(), block_time=None) as node:
        yield node


@pytest.fixture
def ingest_url(cluster: TestCluster, database: str) -> str:
    return cluster.url(database, "chainlake_ingest")


def test_chunk_files_outside_the_chains_tree_are_refused(ingest_url: str) -> None:
    with psycopg.connect(ingest_url, autocommit=True) as conn:
        conn.execute("SELECT chain.register_chain(7, 'seven', 0, 5, 10)")
        files = {"blocks": {"key": "someorg/_runs/x/blocks.parquet"}}
        for prefix, chunk_files in (
            ("someorg/_runs/x", files),
            ("global/chain/7/000000000000-000000000009/w", files),
        ):
            with pytest.raises(
                errors.InvalidParameterValue, match="must lie under global/chain/7/"
            ):
                conn.execute(
                    "SELECT chain.record_chunk(7, 0, 9, '\\x00', '\\x01', %s, %s, 'rpc')",
                    (prefix, json.dumps(chunk_files)),
                )
        assert conn.execute("SELECT count(*) FROM chain.chunks").fetchone() == (0,)


def test_a_malformed_chain_job_does_not_stop_ingestion(
    admin: psycopg.Connection[Any], anvil: Anvil, ingest_url: str
) -> None:
    org = admin.execute("SELECT id FROM core.create_org('x')").fetchone()
    assert org is not None
    spec = {  # as if applied without the schema's checks
        "name": "broken",
        "version": "1",
        "kind": "reactive",
        "input_datasets": ["chain.logs"],
        "chain_input": {"min_interval_seconds": "soon"},
        "launcher": {"kind": "process", "command": ["true"]},
    }
    admin.execute(
        "INSERT INTO jobs.definitions (org_id, name, version, spec) VALUES (%s, 'broken', '1', %s)",
        (org[0], json.dumps(spec)),
    )
    derived = admin.execute(
        "SELECT kind, input_datasets FROM jobs.definitions WHERE name = 'broken'"
    )
    assert derived.fetchone() == ("reactive", ["chain.logs"]), "the dispatch will consider it"
    from chainlake.chain.rpc import RpcClient

    RpcClient([anvil.url]).call("anvil_mine", ["0x5"])
    ingest = LiveIngest(chain_config(anvil.url), ingest_url, log=lambda _m: None)
    ingest.prepare()
    assert ingest.step() == 6  # genesis and five blocks, committed
    ingest.close()
    assert stored_tip(admin, 31337) == 5


def test_a_chain_registered_at_latest_starts_its_history_at_the_head(
    admin: psycopg.Connection[Any], anvil: Anvil, ingest_url: str
) -> None:
    from chainlake.chain.rpc import RpcClient

    RpcClient([anvil.url]).call("anvil_mine", ["0x14"])
    ingest = LiveIngest(chain_config(anvil.url, start_block="latest"), ingest_url, log=print)
    ingest.prepare()
    ingest.step()
    ingest.close()
    row = admin.execute("SELECT start_block, head FROM chain.chains").fetchone()
    assert row == (20, 20)
    assert admin.execute("SELECT * FROM chain.check(31337)").fetchall() == []
