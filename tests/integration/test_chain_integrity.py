"""Integrity: damage stored chain data every way we know (a missing hot block, a broken hash
link, a block missing a transaction, a missing chunk, a deleted and an altered chunk file); the
check names each problem, and repair restores exactly the node's chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from chainlake.chain.archive import archive, backfill
from chainlake.chain.integrity import check, repair
from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import Anvil, Traffic, deploy_token
from chainlake.local.localpg import free_port
from chainlake.query import open_operator_session
from chainlake.storage import LocalStore
from tests.chainkit import (
    chain_config,
    node_head,
    node_rows,
    running_ingest,
    stored_tip,
    wait_until,
)
from tests.harness import TestCluster

CHAIN = 31337


def test_check_finds_every_kind_of_damage_and_repair_restores_the_node_chain(
    cluster: TestCluster, database: str, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    url = cluster.url(database, "chainlake_ingest")
    store = LocalStore(tmp_path / "store")
    with Anvil(free_port()) as anvil:
        rpc = RpcClient([anvil.url])
        traffic = Traffic(rpc, deploy_token(rpc), rate=80).start()
        wait_until(lambda: traffic.sent > 30, 20, "traffic")
        rpc.call("anvil_mine", [30])
        config = chain_config(anvil.url, finality_depth=8, chunk_size=10)
        with running_ingest(config, url):
            wait_until(lambda: stored_tip(admin, CHAIN) >= 60, 60, "blocks")
            traffic.stop()
            rpc.call("evm_setIntervalMining", [0])
            last = node_head(rpc)
            wait_until(lambda: stored_tip(admin, CHAIN) == last, 30, "ingest to settle")
        with psycopg.connect(url, autocommit=True) as conn:
            archive(conn, store, CHAIN, log=lambda _m: None)
            assert check(conn, store, CHAIN) == []

            (mark,) = admin.execute("SELECT archived_to FROM chain.chains").fetchone() or (0,)
            assert mark >= 29
            # hot damage, above the watermark
            admin.execute("DELETE FROM chain.blocks WHERE number = %s", (mark + 2,))
            admin.execute(
                "UPDATE chain.blocks SET parent_hash = '\\x00' WHERE number = %s", (mark + 4,)
            )
            tx_block = admin.execute(
                "SELECT min(block_number) FROM chain.transactions WHERE block_number > %s",
                (mark + 5,),
            ).fetchone()
            assert tx_block is not None and tx_block[0] is not None
            admin.execute(
                "DELETE FROM chain.transactions WHERE block_number = %s AND transaction_index = 0",
                (tx_block[0],),
            )
            # cold damage
            chunks = admin.execute(
                "SELECT from_block, files FROM chain.chunks ORDER BY from_block"
            ).fetchall()
            store.delete(chunks[0][1]["logs"]["key"])
            altered = store.root / chunks[1][1]["blocks"]["key"]
            altered.write_bytes(altered.read_bytes()[:-20] + b"x" * 20)
            admin.execute("DELETE FROM chain.chunks WHERE from_block = %s", (chunks[2][0],))

            found = check(conn, store, CHAIN)
            kinds = {(p.kind, p.from_block) for p in found}
            assert ("missing_blocks", mark + 2) in kinds
            assert ("broken_hash_chain", mark + 4) in kinds
            assert ("missing_transactions", tx_block[0]) in kinds
            assert ("missing_chunk_file", chunks[0][0]) in kinds
            assert ("altered_chunk", chunks[1][0]) in kinds
            assert ("missing_chunk", chunks[2][0]) in kinds
            assert all(p.detail for p in found)

            left = repair(conn, url, store, config, log=lambda _m: None)
            assert left == []
            assert check(conn, store, CHAIN) == []
        expected = node_rows(rpc, CHAIN, 0, last)
    con = open_operator_session(cluster.url(database), store)
    hashes = con.execute("SELECT hash FROM blocks ORDER BY number").fetchall()
    assert [h[0] for h in hashes] == [b[2] for b in expected["blocks"]]
    tx_count = con.execute("SELECT count(*) FROM transactions").fetchone()
    assert tx_count == (len(expected["transactions"]),)
    logs = con.execute("SELECT count(*) FROM logs").fetchone()
    assert logs == (len(expected["logs"]),)


def test_a_resumed_backfill_skips_the_chunks_it_already_wrote(
    cluster: TestCluster, database: str, tmp_path: Path
) -> None:
    url = cluster.url(database, "chainlake_ingest")
    store = LocalStore(tmp_path / "store")
    with Anvil(free_port(), block_time=None) as anvil:
        rpc = RpcClient([anvil.url])
        rpc.call("anvil_mine", [200])
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT chain.register_chain(%s, 'dev', 0, 5, 10)", (CHAIN,))
            first = backfill(conn, store, rpc, CHAIN, 0, 29, log=lambda _m: None)
            again = backfill(conn, store, rpc, CHAIN, 0, 49, log=lambda _m: None)
        assert first.written == [(0, 9), (10, 19), (20, 29)]
        assert again.skipped == first.written
        assert again.written == [(30, 39), (40, 49)]
