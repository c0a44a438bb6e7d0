"""Hourly transfer volume per token and address: each address's sent and received amounts (exact
integers as decimal strings) and transfer count, for the erc20_transfers partition it is given."""

from __future__ import annotations

import json
from collections import defaultdict

from chainlake.sdk import Context, job


@job
def token_volume_hourly(ctx: Context) -> None:
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for path in ctx.input_paths("erc20_transfers"):
        for line in path.open():
            t = json.loads(line)
            hour = (t["block_time"] or "")[:13] + ":00:00+00:00"
            value = int(t["value"])
            sent = totals[(hour, t["token"], t["from"])]
            sent[0] += value
            sent[2] += 1
            received = totals[(hour, t["token"], t["to"])]
            received[1] += value
            received[2] += 1
    rows = [
        {"hour": h, "token": tok, "address": a, "sent": str(s), "received": str(r), "transfers": n}
        for (h, tok, a), (s, r, n) in sorted(totals.items())
    ]
    given = next(i for i in ctx.inputs if i["dataset"] == "erc20_transfers")
    path = ctx.output_path("token_volume_hourly", "part-0.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx.output(
        "token_volume_hourly",
        uris=[path.as_uri()],
        rows=len(rows),
        format="jsonl",
        partition=given.get("partition") or "",
    )


if __name__ == "__main__":
    token_volume_hourly.main()
