"""Fetch blocks with their transactions, receipts and logs in batched JSON-RPC."""

from __future__ import annotations

from typing import Any

from chainlake.chain.codec import BlockData, decode_block, to_bytes, to_int
from chainlake.chain.rpc import RpcClient, RpcError


def fetch_blocks(rpc: RpcClient, chain_id: int, numbers: list[int]) -> list[BlockData]:
    """Blocks `numbers` (ascending, contiguous) as far as the node has them: the list stops at
    the first block the node does not serve yet. One batch: a full block and its receipts per
    number; receipts fetched by number that turn out to be another block's (the node reorged
    between the two calls) are fetched again by hash."""
    calls: list[tuple[str, list[Any]]] = []
    for n in numbers:
        calls.append(("eth_getBlockByNumber", [hex(n), True]))
        calls.append(("eth_getBlockReceipts", [hex(n)]))
    answers = rpc.batch(calls)
    out: list[BlockData] = []
    for i, _ in enumerate(numbers):
        block, receipts = answers[2 * i], answers[2 * i + 1]
        if block is None:
            break
        try:
            out.append(decode_block(chain_id, block, receipts or []))
        except ValueError:
            receipts = rpc.call("eth_getBlockReceipts", [block["hash"]])
            out.append(decode_block(chain_id, block, receipts or []))
    return out


def fetch_headers(rpc: RpcClient, numbers: list[int]) -> dict[int, bytes | None]:
    """The node's canonical block hash at each number (None where it has no such block)."""
    answers = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
    return {n: (to_bytes(a["hash"]) if a else None) for n, a in zip(numbers, answers, strict=True)}


def head(rpc: RpcClient) -> tuple[int, bytes] | None:
    latest = rpc.call("eth_getBlockByNumber", ["latest", False])
    if not latest:
        return None
    number = to_int(latest["number"])
    block_hash = to_bytes(latest["hash"])
    assert number is not None and block_hash is not None
    return number, block_hash


def finalized(rpc: RpcClient) -> int | None:
    """The node's finalized block number, or None where it serves no `finalized` tag."""
    try:
        block = rpc.call("eth_getBlockByNumber", ["finalized", False])
    except RpcError:  # a node without the tag
        return None
    return to_int(block["number"]) if block else None
