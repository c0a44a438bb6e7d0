"""Decode ERC-20 Transfer(address,address,uint256) logs of a block range (chain inputs are JSON
lines: bytes as 0x-hex). Output partition: the block range, so the dataset is the union of its
partitions."""

from __future__ import annotations

import json

from chainlake.sdk import Context, job

TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def address(topic: str) -> str:
    return "0x" + topic[-40:]


@job
def erc20_transfers(ctx: Context) -> None:
    times = {}
    for path in ctx.input_paths("chain.blocks"):
        for line in path.open():
            block = json.loads(line)
            times[(block["chain_id"], block["number"])] = block["timestamp"]
    rows = []
    for path in ctx.input_paths("chain.logs"):
        for line in path.open():
            log = json.loads(line)
            if log["topic0"] != TRANSFER or log["topic2"] is None or log["topic3"] is not None:
                continue  # not an ERC-20 Transfer (ERC-721 has a third indexed topic)
            rows.append(
                {
                    "chain_id": log["chain_id"],
                    "block_number": log["block_number"],
                    "block_time": times.get((log["chain_id"], log["block_number"])),
                    "log_index": log["log_index"],
                    "transaction_hash": log["transaction_hash"],
                    "token": log["address"],
                    "from": address(log["topic1"]),
                    "to": address(log["topic2"]),
                    "value": str(int(log["data"], 16)),
                }
            )
    item = next(i for i in ctx.inputs if i["dataset"] == "chain.logs")
    partition = f"{item['from_block']}-{item['to_block']}"
    path = ctx.output_path("erc20_transfers", "part-0.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx.output(
        "erc20_transfers", uris=[path.as_uri()], rows=len(rows), format="jsonl", partition=partition
    )


if __name__ == "__main__":
    erc20_transfers.main()
