"""Combine on-chain volume with off-chain prices: each token_volume_hourly row valued in USD at
the latest price of its token (18 decimals assumed unless the feed says otherwise)."""

from __future__ import annotations

import json

from chainlake.sdk import Context, job


@job
def token_volume_usd(ctx: Context) -> None:
    prices = {}
    for path in ctx.input_paths("token_prices"):
        for line in path.open():
            p = json.loads(line)
            prices[p["token"].lower()] = (float(p["usd"]), int(p.get("decimals", 18)))
    rows = []
    for path in ctx.input_paths("token_volume_hourly"):
        for line in path.open():
            v = json.loads(line)
            price = prices.get(v["token"].lower())
            if price is None:
                continue
            usd, decimals = price
            rows.append(
                {
                    **v,
                    "price_usd": usd,
                    "sent_usd": int(v["sent"]) / 10**decimals * usd,
                    "received_usd": int(v["received"]) / 10**decimals * usd,
                }
            )
    given = next((i for i in ctx.inputs if i["dataset"] == "token_volume_hourly"), {})
    path = ctx.output_path("token_volume_usd", "part-0.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx.output(
        "token_volume_usd",
        uris=[path.as_uri()],
        rows=len(rows),
        format="jsonl",
        partition=given.get("partition") or "",
    )


if __name__ == "__main__":
    token_volume_usd.main()
