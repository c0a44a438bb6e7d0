"""From JSON-RPC objects to rows: one encoding for hot tables and cold Parquet (docs/chain.md).

Hashes, addresses, topics and call data are raw bytes; uint256 quantities are exact integers
(numeric(78,0) in Postgres, decimal128(38) cannot hold them, so Parquet keeps them as decimal
strings); block numbers, indexes, gas and nonces are int64. The column lists below are the one
place that names each table's columns, in order: COPY, Parquet and the unified views use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

BLOCK_COLUMNS = (
    "chain_id",
    "number",
    "hash",
    "parent_hash",
    "timestamp",
    "miner",
    "gas_used",
    "gas_limit",
    "base_fee_per_gas",
    "transaction_count",
)
TRANSACTION_COLUMNS = (
    "chain_id",
    "block_number",
    "transaction_index",
    "hash",
    "from_address",
    "to_address",
    "value",
    "gas_limit",
    "gas_price",
    "nonce",
    "input",
    "status",
    "gas_used",
    "contract_address",
)
LOG_COLUMNS = (
    "chain_id",
    "block_number",
    "log_index",
    "transaction_index",
    "transaction_hash",
    "address",
    "topic0",
    "topic1",
    "topic2",
    "topic3",
    "data",
)
TABLES = {"blocks": BLOCK_COLUMNS, "transactions": TRANSACTION_COLUMNS, "logs": LOG_COLUMNS}
# Each table's block number column, and its natural order.
NUMBER_COLUMN = {"blocks": "number", "transactions": "block_number", "logs": "block_number"}
ORDER_BY = {
    "blocks": "number",
    "transactions": "block_number, transaction_index",
    "logs": "block_number, log_index",
}
# Columns that hold uint256 quantities (exact; text in Parquet, numeric in Postgres).
BIG_COLUMNS = {"base_fee_per_gas", "value", "gas_price"}
BYTES_COLUMNS = {
    "hash",
    "parent_hash",
    "miner",
    "from_address",
    "to_address",
    "input",
    "contract_address",
    "transaction_hash",
    "address",
    "topic0",
    "topic1",
    "topic2",
    "topic3",
    "data",
}


def to_bytes(value: str | None) -> bytes | None:
    if value is None:
        return None
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def to_int(value: str | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return int(value, 16)


def hex_of(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass
class BlockData:
    """One block with its transactions (receipts merged in) and logs, as rows."""

    number: int
    hash: bytes
    parent_hash: bytes
    block: tuple[Any, ...]
    transactions: list[tuple[Any, ...]] = field(default_factory=list)
    logs: list[tuple[Any, ...]] = field(default_factory=list)


def decode_block(chain_id: int, block: dict[str, Any], receipts: list[dict[str, Any]]) -> BlockData:
    """A full block (`eth_getBlockByNumber(n, true)`) and its receipts, as rows. Raises ValueError
    when the receipts do not belong to the block (an inconsistent node)."""
    number = to_int(block["number"])
    assert number is not None
    block_hash = to_bytes(block["hash"])
    assert block_hash is not None
    txs = block.get("transactions") or []
    if len(receipts) != len(txs):
        raise ValueError(f"block {number}: {len(txs)} transactions but {len(receipts)} receipts")
    by_hash = {r["transactionHash"]: r for r in receipts}
    tx_rows: list[tuple[Any, ...]] = []
    log_rows: list[tuple[Any, ...]] = []
    for tx in txs:
        receipt = by_hash.get(tx["hash"])
        if receipt is None or to_bytes(receipt.get("blockHash")) != block_hash:
            raise ValueError(f"block {number}: receipt of {tx['hash']} is from another block")
        tx_rows.append(
            (
                chain_id,
                number,
                to_int(tx["transactionIndex"]),
                to_bytes(tx["hash"]),
                to_bytes(tx["from"]),
                to_bytes(tx.get("to")),
                to_int(tx["value"]),
                to_int(tx["gas"]),
                to_int(tx.get("gasPrice")),
                to_int(tx["nonce"]),
                to_bytes(tx.get("input", "0x")),
                to_int(receipt.get("status")),
                to_int(receipt.get("gasUsed")),
                to_bytes(receipt.get("contractAddress")),
            )
        )
        for log in receipt.get("logs") or []:
            topics = [to_bytes(t) for t in log.get("topics") or []][:4]
            topics += [None] * (4 - len(topics))
            log_rows.append(
                (
                    chain_id,
                    number,
                    to_int(log["logIndex"]),
                    to_int(log["transactionIndex"]),
                    to_bytes(log["transactionHash"]),
                    to_bytes(log["address"]),
                    *topics,
                    to_bytes(log.get("data", "0x")),
                )
            )
    timestamp = to_int(block["timestamp"])
    assert timestamp is not None
    row = (
        chain_id,
        number,
        block_hash,
        to_bytes(block["parentHash"]),
        datetime.fromtimestamp(timestamp, UTC),
        to_bytes(block.get("miner")),
        to_int(block.get("gasUsed")),
        to_int(block.get("gasLimit")),
        to_int(block.get("baseFeePerGas")),
        len(txs),
    )
    parent = to_bytes(block["parentHash"])
    assert parent is not None
    log_rows.sort(key=lambda r: r[2])
    return BlockData(number, block_hash, parent, row, tx_rows, log_rows)
