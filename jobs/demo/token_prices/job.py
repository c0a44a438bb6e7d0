"""Fetch token prices from an HTTP feed (CoinGecko's simple/token_price format): one row per
token with its USD price and the time fetched. Bounded: one request, a 10 s timeout."""

from __future__ import annotations

import json
import time
import urllib.request

from chainlake.sdk import Context, PermanentError, RetryableError, job


@job
def token_prices(ctx: Context) -> None:
    tokens = [t.lower() for t in ctx.config.get("tokens", [])]
    url = str(ctx.config.get("url", "")).replace("{addresses}", ",".join(tokens))
    if not url.startswith(("http://", "https://")):
        raise PermanentError(f"config.url {url!r} is not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - checked above
            answer = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise RetryableError(f"price feed {url}: {exc}") from exc
    fetched = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = [
        {"token": token, "usd": float(quote["usd"]), "fetched_at": fetched}
        for token, quote in sorted(answer.items())
        if isinstance(quote, dict) and "usd" in quote
    ]
    if not rows:
        raise RetryableError(f"price feed {url} returned no prices")
    path = ctx.output_path("token_prices", "part-0.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ctx.output("token_prices", uris=[path.as_uri()], rows=len(rows), format="jsonl")


if __name__ == "__main__":
    token_prices.main()
