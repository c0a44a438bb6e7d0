"""A test job for DAGs of any shape: writes, for its one output dataset, a file that is a pure
function of its job name, params and input files, so the same inputs give the same bytes.
A source (no inputs) writes `params.value`."""

from __future__ import annotations

from chainlake.sdk import Context, job


@job
def derive(ctx: Context) -> None:
    if ctx.config.get("fail"):
        raise RuntimeError("configured to fail")
    parts = [f"{ctx.request['job']['name']}({ctx.params.get('value', '')})"]
    for item in sorted(ctx.inputs, key=lambda i: i["dataset"]):
        for path in ctx.input_paths(item["dataset"]):
            parts.append(f"{item['dataset']}:{path.read_text().strip()}")
    dataset = ctx.config["output"]
    path = ctx.output_path(dataset, "part-0.txt")
    path.write_text(" | ".join(parts) + "\n")
    ctx.output(
        dataset,
        uris=[path.as_uri()],
        rows=1,
        format="text",
        schema=[{"name": "line", "type": "string"}],
    )


if __name__ == "__main__":
    derive.main()
