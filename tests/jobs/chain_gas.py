"""Test jobs on chain inputs. `gas`: each block's gas used, from a chain.blocks input, into the
dataset named by config.output. `combine`: two such datasets joined on block number."""

from __future__ import annotations

import json
import sys

from chainlake.sdk import Context, job


@job
def gas(ctx: Context) -> None:
    rows = [
        {"chain_id": b["chain_id"], "number": b["number"], "gas_used": b["gas_used"]}
        for p in ctx.input_paths("chain.blocks")
        for b in map(json.loads, p.open())
    ]
    item = ctx.inputs[0]
    out = ctx.config["output"]
    path = ctx.output_path(out, "part-0.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx.output(
        out,
        uris=[path.as_uri()],
        rows=len(rows),
        format="jsonl",
        partition=f"{item['from_block']}-{item['to_block']}",
    )


@job
def combine(ctx: Context) -> None:
    by_chain: dict[str, dict[int, int]] = {}
    for item in ctx.inputs:
        for p in ctx.input_paths(item["dataset"]):
            for r in map(json.loads, p.open()):
                by_chain.setdefault(item["dataset"], {})[r["number"]] = r["gas_used"]
    (a, left), (b, right) = sorted(by_chain.items()) if len(by_chain) == 2 else (("", {}), ("", {}))
    rows = [{"number": n, a: left[n], b: right[n]} for n in sorted(set(left) & set(right))]
    path = ctx.output_path("gas_both", "part-0.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx.output("gas_both", uris=[path.as_uri()], rows=len(rows), format="jsonl")


if __name__ == "__main__":
    {"gas": gas, "combine": combine}[sys.argv[1]].main()
