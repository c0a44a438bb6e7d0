"""Datasets and their versions, lineage, rollback and verification, seen from the CLI. Thin:
the rules live in sql/catalog/55_assets.sql and row-level security decides what the caller sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from chainlake.db import call
from chainlake.errors import NotFound
from chainlake.runs import org_id

Conn = psycopg.Connection[Any]


def _dataset(conn: Conn, org: str, name: str) -> dict[str, Any]:
    rows = call(
        conn,
        "SELECT * FROM catalog.datasets WHERE org_id = %(org)s AND name = %(name)s",
        {"org": org_id(conn, org), "name": name},
    )
    if not rows:
        raise NotFound(
            f'unknown dataset "{name}" in org "{org}"',
            "list datasets with `chainlake asset list --org ORG`",
        )
    return rows[0]


def list_datasets(conn: Conn, org: str | None) -> list[dict[str, Any]]:
    return call(
        conn,
        "SELECT o.name AS org, d.name, d.current_version, "
        "(SELECT count(*) FROM catalog.asset_versions v WHERE v.org_id = d.org_id "
        " AND v.dataset_id = d.id) AS versions, (SELECT count(*) FROM catalog.asset_versions v "
        " WHERE v.org_id = d.org_id AND v.dataset_id = d.id AND v.needs_rebuild_at IS NOT NULL)"
        " AS needs_rebuild, d.updated_at FROM catalog.datasets d "
        "JOIN core.orgs o ON o.id = d.org_id WHERE (%(org)s::text IS NULL OR o.name = %(org)s) "
        "ORDER BY o.name, d.name",
        {"org": org},
    )


def versions(conn: Conn, org: str, name: str) -> list[dict[str, Any]]:
    """Every version; a block range's is current until a reorg or a newer version of its range
    supersedes it (`state` says which), any other's while the dataset points at it."""
    dataset = _dataset(conn, org, name)
    rows = call(
        conn,
        "SELECT v.version, CASE WHEN v.blocks IS NULL THEN v.version = d.current_version "
        "ELSE v.superseded_at IS NULL END AS current, v.partition, v.run_id, "
        "r.job_name, r.job_version, v.row_count, v.bytes, v.content_hash, v.schema, v.metadata, "
        "v.created_at, v.duration_ms, v.uris, v.needs_rebuild_at, v.rebuild_reason, "
        "catalog.version_state(v) AS state "
        "FROM catalog.asset_versions v "
        "JOIN catalog.datasets d ON d.org_id = v.org_id AND d.id = v.dataset_id "
        "LEFT JOIN runs.runs r ON r.org_id = v.org_id AND r.id = v.run_id "
        "WHERE v.org_id = %(org)s AND v.dataset_id = %(ds)s ORDER BY v.version",
        {"org": dataset["org_id"], "ds": dataset["id"]},
    )
    return rows


def manifest(conn: Conn, org: str, name: str, version: int | None) -> tuple[int, dict[str, Any]]:
    dataset = _dataset(conn, org, name)
    wanted = version if version is not None else dataset["current_version"]
    rows = call(
        conn,
        "SELECT manifest FROM catalog.asset_versions WHERE org_id = %(org)s "
        "AND dataset_id = %(ds)s AND version = %(v)s",
        {"org": dataset["org_id"], "ds": dataset["id"], "v": wanted},
    )
    if not rows:
        raise NotFound(
            f'dataset "{name}" has no version {wanted}',
            "list its versions with `chainlake asset versions DATASET`",
        )
    return int(wanted), dict(rows[0]["manifest"])


def rollback(conn: Conn, org: str, name: str, version: int) -> int:
    queued = call(
        conn,
        "SELECT catalog.rollback(%(org)s, %(name)s, %(v)s) AS queued",
        {"org": org_id(conn, org), "name": name, "v": version},
    )
    return int(queued[0]["queued"])


def lineage(
    conn: Conn, org: str, name: str, version: int | None, downstream: bool, depth: int
) -> dict[str, Any]:
    dataset = _dataset(conn, org, name)
    wanted = version if version is not None else dataset["current_version"]
    edges = call(
        conn,
        "SELECT * FROM catalog.lineage(%(org)s, %(name)s, %(v)s, %(down)s, %(depth)s)",
        {"org": dataset["org_id"], "name": name, "v": wanted, "down": downstream, "depth": depth},
    )
    return {
        "dataset": name,
        "version": wanted,
        "direction": "downstream" if downstream else "upstream",
        "edges": json.loads(json.dumps(edges, default=str)),
    }


def backfill(conn: Conn, org: str, name: str, start: str, end: str) -> dict[str, Any]:
    return call(
        conn,
        "SELECT * FROM runs.backfill(%(org)s, %(name)s, %(from)s, %(to)s)",
        {"org": org_id(conn, org), "name": name, "from": start, "to": end},
    )[0]


def backfill_progress(conn: Conn, backfill_id: str) -> dict[str, int]:
    rows = call(
        conn,
        "SELECT status, count(*) AS n FROM runs.runs "
        "WHERE trigger ->> 'backfill' = %(id)s GROUP BY status",
        {"id": backfill_id},
    )
    return {r["status"]: int(r["n"]) for r in rows}


def partition_status(conn: Conn, org: str, name: str, start: str, end: str) -> list[dict[str, Any]]:
    """Each partition of the range: materialized, missing (no version, or its files are gone),
    failed (its latest run failed), or running (queued or running)."""
    rows = call(
        conn,
        "SELECT * FROM catalog.partitions(%(org)s, %(name)s, %(from)s, %(to)s)",
        {"org": org_id(conn, org), "name": name, "from": start, "to": end},
    )
    for row in rows:
        files_present = bool(row["uris"]) and all(
            urlparse(u).scheme != "file" or Path(urlparse(u).path).exists() for u in row["uris"]
        )
        if row["version"] is not None and files_present:
            row["status"] = "materialized"
        elif row["run_status"] in ("failed", "dead"):
            row["status"] = "failed"
        elif row["run_status"] in ("queued", "running", "retrying"):
            row["status"] = "running"
        else:
            row["status"] = "missing"
    return rows


def staleness(conn: Conn, org: str) -> list[dict[str, Any]]:
    return call(conn, "SELECT * FROM catalog.staleness(%(org)s)", {"org": org_id(conn, org)})


def status(conn: Conn, org: str) -> list[dict[str, Any]]:
    """Each dataset's staleness, the blocks its current ranges cover, the partitions a reorg
    superseded (and which of them wait for their recompute), and the versions validation holds
    back (sql/catalog/58_supersession.sql)."""
    params = {"org": org_id(conn, org)}
    rows = staleness(conn, org)
    coverage = call(
        conn,
        "SELECT d.name AS dataset, c.* FROM catalog.datasets d, "
        "catalog.coverage(d.org_id, d.name) c WHERE d.org_id = %(org)s",
        params,
    )
    superseded = call(conn, "SELECT * FROM catalog.superseded_partitions(%(org)s)", params)
    held = call(conn, "SELECT * FROM catalog.validation_holds(%(org)s)", params)
    for row in rows:
        row["coverage"] = [
            _without(c, "dataset") for c in coverage if c["dataset"] == row["dataset"]
        ]
        row["superseded"] = [
            _without(s, "dataset") for s in superseded if s["dataset"] == row["dataset"]
        ]
        row["held"] = [_without(h, "dataset") for h in held if h["dataset"] == row["dataset"]]
    return rows


def _without(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != key}


def preview(
    conn: Conn, org: str, name: str, version: int | None, partition: str | None, limit: int
) -> dict[str, Any]:
    """The first `limit` records of a version (text formats: JSON lines, JSON, CSV, text)."""
    dataset = _dataset(conn, org, name)
    rows = call(
        conn,
        "SELECT version, partition, uris FROM catalog.asset_versions WHERE org_id = %(org)s "
        "AND dataset_id = %(ds)s AND (%(v)s::int IS NULL OR version = %(v)s) "
        "AND (%(p)s::text IS NULL OR partition = %(p)s) "
        "AND (%(v)s::int IS NOT NULL OR %(p)s::text IS NOT NULL OR version = %(current)s) "
        "ORDER BY version DESC LIMIT 1",
        {
            "org": dataset["org_id"],
            "ds": dataset["id"],
            "v": version,
            "p": partition,
            "current": dataset["current_version"],
        },
    )
    if not rows:
        raise NotFound(
            f'dataset "{name}" has no such version or partition',
            "list its versions with `chainlake asset versions DATASET`",
        )
    records: list[str] = []
    for uri in rows[0]["uris"]:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            continue
        with Path(parsed.path).open(errors="replace") as handle:
            for line in handle:
                if len(records) >= limit:
                    break
                records.append(line.rstrip("\n"))
    return {
        "dataset": name,
        "version": rows[0]["version"],
        "partition": rows[0]["partition"] or None,
        "records": records,
    }


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
        run = call(
            conn,
            "SELECT job_name, job_version, started_at, finished_at FROM runs.runs "
            "WHERE id = %(id)s",
            {"id": run_id},
        )[0]
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
                "eventTime": (run["finished_at"] or run["started_at"]).isoformat(),
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
