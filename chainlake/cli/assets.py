"""Datasets and their versions: list, versions, status, preview, rollback, lineage, verify,
backfill."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from chainlake.cli.common import (
    AS_OPTION,
    acting,
    handles_errors,
    print_json,
    print_table,
)
from chainlake.cli.progress import progress_bar
from chainlake.domain import assets as ops
from chainlake.domain import lineage as lineage_ops
from chainlake.errors import ChainlakeError, InvalidInput


@click.group(help="Datasets and their versions.")
def asset() -> None:
    pass


@asset.command("list", help="Datasets with their current version.")
@click.option("--org", "org_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def asset_list(org_name: str | None, as_json: bool, as_email: str | None) -> None:
    with acting(as_email) as act:
        rows = act(ops.list_assets, org=org_name)["items"]
    print_json(rows) if as_json else print_table(
        rows, ["org", "name", "current_version", "versions", "needs_rebuild", "updated_at"]
    )


@asset.command("versions", help="Every version of a dataset: run, rows, bytes, schema, when.")
@click.argument("dataset")
@click.option("--org", "org_name", required=True)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def asset_versions(dataset: str, org_name: str, as_json: bool, as_email: str | None) -> None:
    with acting(as_email) as act:
        rows = act(ops.asset_versions, org=org_name, dataset=dataset)
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows,
            [
                "version",
                "current",
                "job_name",
                "job_version",
                "row_count",
                "bytes",
                "created_at",
                "run_id",
                "rebuild_reason",
            ],
        )


@asset.command("rollback", help="Make an older version current; dependants re-run on it.")
@click.argument("dataset")
@click.option("--org", "org_name", required=True)
@click.option("--to", "version", required=True, type=int)
@AS_OPTION
@handles_errors
def asset_rollback(dataset: str, org_name: str, version: int, as_email: str | None) -> None:
    with acting(as_email) as act:
        queued = act(ops.rollback_asset, org=org_name, dataset=dataset, version=version)["queued"]
    click.echo(f"{dataset} is at version {version}; {queued} dependant run(s) queued")


@click.command(
    help="Lineage of a dataset version: what it was built from, or what was built from it."
)
@click.argument("dataset")
@click.option("--org", "org_name", required=True)
@click.option("--version", type=int, default=None, help="Default: the current version.")
@click.option("--downstream", is_flag=True, help="What was built from it (default: upstream).")
@click.option("--upstream", is_flag=True, help="What it was built from (the default).")
@click.option("--depth", default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--openlineage", is_flag=True, help="Print the runs as OpenLineage RunEvents.")
@AS_OPTION
@handles_errors
def lineage(
    dataset: str,
    org_name: str,
    version: int | None,
    downstream: bool,
    upstream: bool,
    depth: int,
    as_json: bool,
    openlineage: bool,
    as_email: str | None,
) -> None:
    if downstream and upstream:
        raise InvalidInput("choose --upstream or --downstream, not both")
    direction = "downstream" if downstream else "upstream"
    with acting(as_email) as act:
        op = lineage_ops.openlineage if openlineage else lineage_ops.lineage
        found = act(
            op, org=org_name, dataset=dataset, version=version, direction=direction, depth=depth
        )
    events: list[dict[str, Any]] = found if isinstance(found, list) else []
    graph: dict[str, Any] = found if isinstance(found, dict) else {}
    if openlineage:
        for event in events:
            click.echo(json.dumps(event))
        return
    if as_json:
        print_json(graph)
        return
    for edge in graph["edges"]:
        click.echo(
            f"{'  ' * (edge['depth'] - 1)}{_lineage_input(edge)}"
            f" -> {edge['job']} {edge['job_version']} (run {edge['run_id']}) -> "
            f"{edge['output_dataset']} v{edge['output_version']}"
            + _superseded_note((edge["output_state"] or {}).get("superseded"))
        )


def _lineage_input(edge: dict[str, Any]) -> str:
    """A version of a dataset, or the chain range a run read, with its end blocks' hashes."""
    read = edge["input_range"]
    if read is None:
        return f"{edge['input_dataset']} v{edge['input_version']}"
    hashes = f" ({read['first_hash']}..{read['last_hash']})" if read["last_hash"] else ""
    gone = read.get("invalidated_by")
    return (
        f"{edge['input_dataset']} blocks {read['from_block']}-{read['to_block']} of chain "
        f"{read['chain_id']}{hashes}"
        + (f" [orphaned: {_invalidation(gone, read['chain_id'])}]" if gone else "")
    )


def _invalidation(event: dict[str, Any], chain_id: int) -> str:
    if event.get("reorg") is not None:
        return f"reorg {event['reorg']} at block {event['from_block']} of chain {chain_id}"
    return f"blocks {event['from_block']}.. of chain {chain_id} invalidated"


def _superseded_note(superseded: dict[str, Any] | None) -> str:
    if not superseded:
        return ""
    if superseded["reason"] == "replaced":
        return f"  [replaced by v{superseded['by_version']}]"
    return f"  [superseded by {_invalidation(superseded, superseded['chain_id'])}]"


@click.command(
    help="Re-hash a version's files against its manifest; name what is missing or altered."
)
@click.argument("dataset")
@click.option("--org", "org_name", required=True)
@click.option("--version", type=int, default=None, help="Default: the current version.")
@AS_OPTION
@handles_errors
def verify(dataset: str, org_name: str, version: int | None, as_email: str | None) -> None:
    with acting(as_email) as act:
        verified = act(
            ops.verify_asset, org=org_name, dataset=dataset, version=version, store=act.store()
        )
    checked, problems, files = verified["version"], verified["problems"], verified["files"]
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(
            f"{dataset} v{checked}: {len(problems)} of {files} file(s) do not verify", err=True
        )
        sys.exit(1)
    click.echo(f"{dataset} v{checked}: {files} file(s) verified")


@click.command(help="Backfill a partitioned dataset: one run per partition of FROM..TO.")
@click.argument("dataset")
@click.option("--org", "org_name", required=True)
@click.option("--from", "start", required=True, help="First block, or YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last block, or YYYY-MM-DD (inclusive).")
@click.option("--wait", is_flag=True, help="Show progress until every partition has finished.")
@click.option("--timeout", default=3600.0, show_default=True)
@AS_OPTION
@handles_errors
def backfill(
    dataset: str,
    org_name: str,
    start: str,
    end: str,
    wait: bool,
    timeout: float,
    as_email: str | None,
) -> None:
    with acting(as_email) as act:
        started = act(ops.backfill, org=org_name, dataset=dataset, start=start, end=end)
        total = int(started["runs"])
        click.echo(f"backfill {started['backfill_id']}: {total} partition run(s) queued")
        ends = time.monotonic() + timeout
        with progress_bar(f"backfill {dataset}", "partitions") as advance:
            while wait:
                progress = act(ops.backfill_progress, backfill_id=str(started["backfill_id"]))
                done = progress["finished"]
                advance(done, total)
                click.echo(
                    f"  {done}/{total} finished: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(progress["counts"].items()))
                )
                if done >= total:
                    break
                if time.monotonic() > ends:
                    raise ChainlakeError(f"backfill still running after {timeout:g}s")
                time.sleep(2)


def _status_details(row: dict[str, Any]) -> list[str]:
    """What `asset status` adds under a dataset: the blocks its current ranges cover, partitions
    a reorg superseded (and those waiting for their recompute), versions validation holds."""
    lines = [
        f"blocks {c['first_block']}-{c['last_block']} of chain {c['chain_id']} in "
        f"{c['partitions']} partition(s)"
        + (f", {c['missing_blocks']} block(s) missing" if c["missing_blocks"] else "")
        for c in row["coverage"]
        if c["chain_id"] is not None
    ]
    by_cause: dict[str, list[str]] = {}
    for part in row["superseded"]:
        cause = _invalidation(
            {"reorg": part["reorg_id"], "from_block": part["invalidated_from"]}, part["chain_id"]
        )
        by_cause.setdefault(cause, []).append(f"{part['partition']} v{part['version']}")
    lines += [f"superseded by {cause}: {', '.join(parts)}" for cause, parts in by_cause.items()]
    waiting = [f"{p['partition']} v{p['version']}" for p in row["superseded"] if p["waiting"]]
    if waiting:
        lines.append(f"waiting for recompute after a reorg: {', '.join(waiting)}")
    for held in row["held"]:
        if held["state"] == "failed":
            lines.append(
                f"held: v{held['version']} failed validation by {held['job']} (run "
                f"{held['run_id']}): {held['error']}; dependants read "
                + (f"v{held['dependants_read']}" if held["dependants_read"] else "no version")
            )
        else:
            lines.append(f"validating: v{held['version']} by {held['job']} (run {held['run_id']})")
    return lines


@asset.command(
    "status",
    help="Staleness of each dataset, the blocks its ranges cover, partitions a reorg superseded "
    "or that wait for their recompute, versions held by validation; with --from/--to, a "
    "dataset's partitions: materialized, missing, failed, running.",
)
@click.argument("dataset", required=False)
@click.option("--org", "org_name", required=True)
@click.option("--from", "start", default=None)
@click.option("--to", "end", default=None)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def asset_status(
    dataset: str | None,
    org_name: str,
    start: str | None,
    end: str | None,
    as_json: bool,
    as_email: str | None,
) -> None:
    if start is None and end is None:
        with acting(as_email) as act:
            stale = act(ops.asset_status, org=org_name, dataset=dataset)
        if as_json:
            print_json(stale)
            return
        for row in stale:
            state = "stale: " + "; ".join(row["reasons"]) if row["stale"] else "fresh"
            click.echo(f"{row['dataset']} v{row['current_version']}  {state}")
            for line in _status_details(row):
                click.echo(f"  {line}")
        return
    if dataset is None or start is None or end is None:
        raise InvalidInput("partition status needs DATASET, --from and --to")
    with acting(as_email) as act:
        found = act(ops.partition_status, org=org_name, dataset=dataset, start=start, end=end)
    rows, counts = found["partitions"], found["counts"]
    if as_json:
        print_json(found)
        return
    for row in rows:
        if row["status"] != "materialized":
            click.echo(f"{row['key']}  {row['status']}")
    click.echo(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no partitions")


@asset.command("preview", help="The first records of any version of any dataset.")
@click.argument("dataset")
@click.option("--org", "org_name", required=True)
@click.option("--version", type=int, default=None)
@click.option("--partition", default=None)
@click.option("--limit", default=20, show_default=True)
@AS_OPTION
@handles_errors
def asset_preview(
    dataset: str,
    org_name: str,
    version: int | None,
    partition: str | None,
    limit: int,
    as_email: str | None,
) -> None:
    with acting(as_email) as act:
        shown = act(
            ops.preview_asset,
            org=org_name,
            dataset=dataset,
            version=version,
            partition=partition,
            limit=limit,
            store=act.store(),
        )
    where = f" partition {shown['partition']}" if shown["partition"] else ""
    click.echo(f"# {dataset} v{shown['version']}{where}")
    for record in shown["records"]:
        click.echo(record)
    for note in shown.get("notes", []):
        click.echo(f"# {note}", err=True)
    if shown.get("truncated"):
        click.echo("# truncated: the preview stopped at its byte cap", err=True)
