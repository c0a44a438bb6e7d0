"""A source job (Python SDK): writes the numbers 1..count as JSON lines to `numbers`."""

from __future__ import annotations

import hashlib
import json

from chainlake.sdk import Context, job


@job
def numbers(ctx: Context) -> None:
    count = int(ctx.params.get("count", 5))
    ctx.log(f"writing {count} numbers")
    path = ctx.output_path("numbers", "part-0.jsonl")
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(1, count + 1)))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ctx.output(
        "numbers",
        uris=[path.as_uri()],
        rows=count,
        bytes=path.stat().st_size,
        format="jsonl",
        schema=[{"name": "n", "type": "integer"}],
        checksums={path.name: f"sha256:{digest}"},
    )


if __name__ == "__main__":
    numbers.main()
