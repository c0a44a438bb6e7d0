"""Lineage of a dataset version: what it was built from (upstream) or what was built from it
(downstream), as a graph of edges (catalog.lineage, sql/55_assets.sql) or as OpenLineage
RunEvents for Marquez and kin."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from chainlake.domain import one, rows
from chainlake.domain.runs import org_id, show_run
from chainlake.errors import InvalidInput

Conn = psycopg.Connection[Any]


def lineage(
    conn: Conn,
    *,
    org: str,
    dataset: str,
    version: int | None = None,
    direction: str = "upstream",
    depth: int = 10,
) -> dict[str, Any]:
    """The edges from a version (the current one by default) up or down to `depth` hops: each
    an input (a dataset version, or a chain range with its blocks' hashes), the run and job, and
    the output version with its state (current, or what superseded it)."""
    if direction not in ("upstream", "downstream"):
        raise InvalidInput(f"direction: {direction!r} is not upstream or downstream")
    if not 1 <= depth <= 100:
        raise InvalidInput(f"depth: {depth} is not between 1 and 100")
    wanted = version
    if wanted is None:
        wanted = one(
            conn,
            "SELECT current_version FROM catalog.dataset_named(p_org => %(org)s, p_dataset => %(ds)s)",  # noqa: E501
            {"org": org, "ds": dataset},
        )["current_version"]
    edges = rows(
        conn,
        "SELECT * FROM catalog.lineage(p_org_id => %(org_id)s, p_dataset => %(ds)s, p_version => %(v)s, p_downstream => %(down)s, p_depth => %(depth)s)",  # noqa: E501
        {
            "org_id": org_id(conn, org),
            "ds": dataset,
            "v": wanted,
            "down": direction == "downstream",
            "depth": depth,
        },
    )
    return {"dataset": dataset, "version": wanted, "direction": direction, "edges": edges}


def openlineage(
    conn: Conn,
    *,
    org: str,
    dataset: str,
    version: int | None = None,
    direction: str = "upstream",
    depth: int = 10,
) -> list[dict[str, Any]]:
    """The runs of the lineage graph as OpenLineage RunEvents (COMPLETE)."""
    graph = lineage(
        conn, org=org, dataset=dataset, version=version, direction=direction, depth=depth
    )
    return openlineage_events(conn, org, graph)


OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
PRODUCER = "urn:chainlake"
RANGE_FACET = "chainlake_blockRange"  # a custom dataset facet: a chain range, its blocks' hashes
RANGE_FACET_SCHEMA = "urn:chainlake:facets:BlockRangeDatasetFacet"


def _range_facet(blocks: dict[str, Any]) -> dict[str, Any]:
    facet = {
        "_producer": PRODUCER,
        "_schemaURL": RANGE_FACET_SCHEMA,
        "chainId": blocks["chain_id"],
        "fromBlock": blocks["from_block"],
        "toBlock": blocks["to_block"],
    }
    if "first_hash" in blocks:
        facet["firstBlockHash"] = blocks["first_hash"]
        facet["lastBlockHash"] = blocks["last_hash"]
    return facet


def openlineage_events(conn: Conn, org: str, graph: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of a lineage graph as OpenLineage RunEvents (COMPLETE), for Marquez and kin."""
    namespace = f"chainlake://{org}"

    def dataset(name: str, version: int, blocks: dict[str, Any] | None) -> dict[str, Any]:
        facets: dict[str, Any] = {
            "version": {
                "_producer": PRODUCER,
                "datasetVersion": str(version),
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
                "DatasetVersionDatasetFacet.json",
            }
        }
        if blocks:
            facets[RANGE_FACET] = _range_facet(blocks)
        return {"namespace": namespace, "name": name, "facets": facets}

    def chain_range(name: str, blocks: dict[str, Any]) -> dict[str, Any]:
        """A chain input: the range of chain `chain_id` the run read, as a dataset."""
        return {
            "namespace": f"chainlake://chain/{blocks['chain_id']}",
            "name": name,
            "facets": {RANGE_FACET: _range_facet(blocks)},
        }

    # the block range of every version the graph names (an input's range is known where the
    # graph shows it as an output)
    ranges = {
        (e["output_dataset"], e["output_version"]): (e["output_state"] or {}).get("range")
        for e in graph["edges"]
    }
    events = []
    for run_id in dict.fromkeys(e["run_id"] for e in graph["edges"]):
        edges = [e for e in graph["edges"] if e["run_id"] == run_id]
        run = show_run(conn, run_id=str(run_id))
        inputs = [
            chain_range(e["input_dataset"], e["input_range"])
            if e["input_range"] is not None
            else dataset(
                e["input_dataset"],
                e["input_version"],
                ranges.get((e["input_dataset"], e["input_version"])),
            )
            for e in edges
        ]
        outputs = {(e["output_dataset"], e["output_version"]) for e in edges}
        events.append(
            {
                "eventType": "COMPLETE",
                "eventTime": run["finished_at"] or run["started_at"],
                "producer": PRODUCER,
                "schemaURL": OPENLINEAGE_SCHEMA,
                "run": {"runId": str(run_id), "facets": {}},
                "job": {
                    "namespace": namespace,
                    "name": run["job_name"],
                    "facets": {
                        "sourceCodeLocation": {
                            "_producer": PRODUCER,
                            "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/"
                            "SourceCodeLocationJobFacet.json",
                            "type": "chainlake",
                            "url": f"chainlake://{org}/jobs/{run['job_name']}/{run['job_version']}",
                        }
                    },
                },
                "inputs": _distinct(inputs),
                "outputs": [dataset(n, v, ranges.get((n, v))) for n, v in sorted(outputs)],
            }
        )
    return events


def _distinct(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each dataset once, in a stable order."""
    seen = {json.dumps(d, sort_keys=True): d for d in datasets}
    return [seen[k] for k in sorted(seen)]
