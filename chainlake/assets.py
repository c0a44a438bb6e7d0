"""Datasets and their versions, lineage, rollback and verification, seen from the CLI. Thin:
the rules live in sql/55_assets.sql and row-level security decides what the caller sees."""

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
    dataset = _dataset(conn, org, name)
    rows = call(
        conn,
        "SELECT v.version, v.version = d.current_version AS current, v.partition, v.run_id, "
        "r.job_name, r.job_version, v.row_count, v.bytes, v.content_hash, v.schema, v.metadata, "
        "v.created_at, v.duration_ms, v.uris, v.needs_rebuild_at, v.rebuild_reason "
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


def openlineage_events(conn: Conn, org: str, graph: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of a lineage graph as OpenLineage RunEvents (COMPLETE), for Marquez and kin."""
    namespace = f"chainlake://{org}"

    def dataset(name: str, version: int) -> dict[str, Any]:
        return {
            "namespace": namespace,
            "name": name,
            "facets": {
                "version": {
                    "_producer": PRODUCER,
                    "datasetVersion": str(version),
                    "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/"
                    "DatasetVersionDatasetFacet.json",
                }
            },
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
        inputs = {(e["input_dataset"], e["input_version"]) for e in edges}
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
                "inputs": [dataset(n, v) for n, v in sorted(inputs)],
                "outputs": [dataset(n, v) for n, v in sorted(outputs)],
            }
        )
    return events
