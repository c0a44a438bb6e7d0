"""Chains, read-only for people: each chain's status (hot head, finalized block, watermark,
reorgs, the last reorg and the datasets it invalidated that the caller may see) and an
integrity check (missing blocks, broken hash chains, missing or altered cold chunks)."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.chain.integrity import check
from chainlake.domain import rows
from chainlake.errors import InvalidInput, NotFound
from chainlake.storage import ObjectStore

Conn = psycopg.Connection[Any]


def chain_status(conn: Conn) -> dict[str, Any]:
    """Every registered chain's status: `chains`."""
    found = rows(conn, "SELECT s FROM chain.status_for_caller() s")
    return {"chains": [r["s"] for r in found]}


def chain_check(
    conn: Conn, *, chain_id: int | None = None, store: ObjectStore | None = None
) -> dict[str, Any]:
    """The problems of a chain's data (the only chain when `chain_id` is None); its cold chunks'
    files are re-hashed when `store` holds them (the API and the local CLI pass theirs)."""
    known = [c["chain_id"] for c in chain_status(conn)["chains"]]
    if chain_id is None:
        if len(known) != 1:
            raise InvalidInput(
                f"chain_id: {len(known)} chains are registered ({known}): name one"
                if known
                else "no chain is registered yet: `make up` starts the devchain and its ingest"
            )
        chain_id = int(known[0])
    if chain_id not in known:
        raise NotFound(f"unknown chain {chain_id}", "list chains with `chainlake chain status`")
    problems = check(conn, store, chain_id)
    return {"chain_id": chain_id, "problems": [p.as_dict() for p in problems]}


def chain_ids(conn: Conn) -> list[int]:
    """The ids of the registered chains, in order (the operator's chain commands pick the one
    there is when none is named)."""
    return [int(r["chain_id"]) for r in rows(conn, "SELECT chain_id FROM chain.chains ORDER BY 1")]


def chain_settings(conn: Conn, *, chain_id: int) -> dict[str, Any]:
    """A registered chain's name, first block, finality depth and chunk size."""
    found = rows(
        conn,
        "SELECT name, start_block, finality_depth, chunk_size FROM chain.chains "
        "WHERE chain_id = %(chain_id)s",
        {"chain_id": chain_id},
    )
    if not found:
        raise InvalidInput(f"chain {chain_id} is not registered")
    return found[0]
