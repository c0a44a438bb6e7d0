"""What `chainlake up` installs so that a newcomer meets live chain data: the system org
`chainlake` with the chain jobs (live ingest, always_on; the finality archiver, every minute), and
the org `demo` with a small DAG on it:

    chain.logs + chain.blocks -> erc20_transfers -> token_volume_hourly -+-> token_volume_usd
    price feed (HTTP)         -> token_prices ---------------------------+

Definitions are the YAML files under jobs/system/ and jobs/demo/; only their chain and feed
settings are filled in here. Applying is idempotent: an unchanged definition is not a new version.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from chainlake import egress, jobdefs, tenancy
from chainlake.db import call
from chainlake.domain.jobs import run_job
from chainlake.errors import AlreadyExists

JOBS = Path(__file__).resolve().parents[2] / "jobs"
SYSTEM_ORG = "chainlake"
DEMO_ORG = "demo"
DEMO_JOBS = ("erc20_transfers", "token_volume_hourly", "token_prices", "token_volume_usd")
RANGED = ("erc20_transfers", "token_volume_hourly", "token_volume_usd")  # one partition per range


@dataclass
class ChainTarget:
    chain_id: int
    name: str
    rpc_urls: list[str]
    token: str | None = None  # the devchain's ERC-20
    price_feed: str | None = None  # the devchain's price feed URL template
    finality_depth: int = 64
    chunk_size: int = 1000  # blocks per cold chunk (the devchain uses 100: archives every 40 s)


def ensure_org(conn: psycopg.Connection[Any], name: str, display: str) -> str:
    try:
        return str(tenancy.create_org(conn, name, display)["id"])
    except AlreadyExists:
        row = conn.execute("SELECT id FROM core.orgs WHERE name = %s", (name,)).fetchone()
        assert row is not None
        return str(row[0])


def system_jobs(target: ChainTarget) -> list[dict[str, Any]]:
    """The system org's jobs: live ingest, the archiver and the integrity check of the chain,
    alert delivery."""
    ingest = jobdefs.load(JOBS / "system" / "ingest" / "job.yaml")
    ingest["name"] = f"ingest-{target.name}"
    ingest["description"] = f"Live ingest of {target.name} (chain {target.chain_id})."
    ingest["config"]["chain"] = {
        "chain_id": target.chain_id,
        "name": target.name,
        "rpc_urls": target.rpc_urls,
        "finality_depth": target.finality_depth,
        "chunk_size": target.chunk_size,
        # the devchain from genesis; a real chain from its head at first start (backfill the rest)
        "start_block": 0 if target.token else "latest",
    }
    archive = jobdefs.load(JOBS / "system" / "archive" / "job.yaml")
    archive["name"] = f"archive-{target.name}"
    archive["config"] = {"chain_id": target.chain_id}
    chain_check = jobdefs.load(JOBS / "system" / "chain_check" / "job.yaml")
    chain_check["name"] = f"check-{target.name}"
    chain_check["config"] = {"chain_id": target.chain_id}
    delivery = jobdefs.load(JOBS / "system" / "alert_delivery" / "job.yaml")
    return [ingest, archive, chain_check, delivery]


def demo_jobs(target: ChainTarget) -> list[dict[str, Any]]:
    specs = []
    for name in DEMO_JOBS:
        spec = jobdefs.load(JOBS / "demo" / name / "job.yaml")
        if name == "token_prices" and target.price_feed:
            spec["config"] = {"url": target.price_feed, "tokens": [target.token]}
            spec["network"] = [egress.address_of(target.price_feed)]
        specs.append(spec)
    return specs


def versioned(spec: dict[str, Any]) -> dict[str, Any]:
    """The file's version plus a digest of what was filled in: a changed endpoint or feed is a
    new version of the job, an unchanged one is the same version (applying it is a no-op). Joined
    with '.': a version is one path component of letters, digits, '.', '_' and '-'."""
    body = {k: v for k, v in spec.items() if k != "version"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    return {**spec, "version": f"{spec['version']}.{digest}"}


def install(conn: psycopg.Connection[Any], target: ChainTarget) -> dict[str, list[str]]:
    """Create the orgs and apply the jobs (as the operator); returns the jobs applied per org."""
    system = ensure_org(conn, SYSTEM_ORG, "chainlake platform")
    call(conn, "SELECT core.set_system_org(%(name)s)", {"name": SYSTEM_ORG})
    applied: dict[str, list[str]] = {SYSTEM_ORG: [], DEMO_ORG: []}
    for spec in system_jobs(target):
        jobdefs.apply(conn, system, versioned(spec))
        applied[SYSTEM_ORG].append(spec["name"])
    call(conn, "SELECT alerts.install_system_rules()")
    if target.token:  # the demo DAG reads the devchain's token and price feed
        demo = ensure_org(conn, DEMO_ORG, "demo: ERC-20 volume on the devchain")
        for spec in demo_jobs(target):
            jobdefs.apply(conn, demo, versioned(spec))
            applied[DEMO_ORG].append(spec["name"])
        run_job(
            conn,
            org=DEMO_ORG,
            name="token_prices",
            idempotency_key=f"up:token_prices:{target.token}",
        )
    return applied


def caught_up(conn: psycopg.Connection[Any], org_id: str, chain_id: int, through: int) -> bool:
    """Every current partition of the demo DAG is consistent: its block-range datasets cover the
    same blocks of the chain in the same number of partitions, with no gap, through `through`
    (a reorg's recompute has landed all the way down the DAG)."""
    rows = conn.execute(
        "SELECT c.first_block, c.last_block, c.partitions, c.missing_blocks "
        "FROM unnest(%s::text[]) d (name), catalog.coverage(%s, d.name) c WHERE c.chain_id = %s",
        (list(RANGED), org_id, chain_id),
    ).fetchall()
    return (
        len(rows) == len(RANGED)
        and len(set(rows)) == 1
        and rows[0][1] >= through
        and rows[0][3] == 0
    )
