"""A reactive job (Python SDK): doubles every number of its `numbers` input."""

from __future__ import annotations

import json

from chainlake.sdk import Context, job


@job
def double(ctx: Context) -> None:
    values = [json.loads(line)["n"] for p in ctx.input_paths("numbers") for line in p.open()]
    path = ctx.output_path("numbers_doubled", "part-0.jsonl")
    path.write_text("".join(json.dumps({"n": 2 * v}) + "\n" for v in values))
    ctx.metric("rows", len(values))
    ctx.output("numbers_doubled", uris=[path.as_uri()], rows=len(values), format="jsonl")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        double.serve(int(sys.argv[2]))
    else:
        double.main()
