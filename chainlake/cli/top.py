"""`chainlake top`: a live terminal view of the platform for operators (runs, queues, ingest lag,
alert latency, the busiest orgs), refreshed every few seconds; `--once` prints one view and
exits (`--json`: the document it is drawn from)."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from chainlake.cli.common import handles_errors, operating
from chainlake.domain.overview import platform_overview

MAX_WATCH_SECONDS = 24 * 3600  # a forgotten terminal stops reading after a day


def _table(title: str, columns: list[str], rows: list[list[Any]], empty: str) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        table.add_column(column, justify="left" if column in ("name", "org", "chain") else "right")
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    if not rows:
        table.add_row(empty, *[""] * (len(columns) - 1))
    return table


def view(overview: dict[str, Any]) -> Group:
    """The overview drawn as tables (what `top` shows)."""
    runs, alerts = overview["runs"], overview["alerts"]
    run_table = _table(
        "runs",
        ["queued", "running", "ok 5m", "failed 5m", "finished/s 1m"],
        [
            [
                runs["queued"],
                runs["running"],
                runs["succeeded_5m"],
                runs["failed_5m"],
                runs["finished_per_second_1m"],
            ]
        ],
        "",
    )
    queues = _table(
        "queues",
        ["name", "depth", "oldest s"],
        [[q["name"], q["depth"], q["oldest_seconds"]] for q in overview["queues"]],
        "no queue",
    )
    chains = _table(
        "ingest",
        ["chain", "head", "stored", "lag blocks", "lag s", "finalized", "archived", "rpc down"],
        [
            [
                f"{c['chain_id']} {c['name']}"
                + (f" (stopped: {c['stopped']})" if c["stopped"] else ""),
                c["head"],
                c["stored_tip"],
                c["lag_blocks"],
                c["lag_seconds"],
                c["finalized"],
                c["archived_to"],
                c["endpoints_down"],
            ]
            for c in overview["chains"]
        ],
        "no chain",
    )
    alert_table = _table(
        "alerts",
        ["delivered 15m", "p50 ms", "p95 ms", "pending", "dead 1h", "open system alerts"],
        [
            [
                alerts["delivered_15m"],
                alerts["latency_p50_ms"],
                alerts["latency_p95_ms"],
                alerts["pending"],
                alerts["dead_1h"],
                alerts["open_system_alerts"],
            ]
        ],
        "",
    )
    orgs = _table(
        "busiest orgs",
        ["org", "running", "queued", "finished 15m", "failed 15m"],
        [
            [o["org"], o["running"], o["queued"], o["finished_15m"], o["failed_15m"]]
            for o in overview["busiest_orgs"]
        ],
        "no runs in the last 15 minutes",
    )
    return Group(f"chainlake top  {overview['at']}", run_table, queues, chains, alert_table, orgs)


@click.command(
    help="A live view of the platform for operators: runs, queues, ingest, alerts, orgs."
)
@click.option("--once", is_flag=True, help="Print one view and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: the overview as JSON.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between refreshes.")
@handles_errors
def top(once: bool, as_json: bool, interval: float) -> None:
    if as_json and not once:
        raise click.UsageError("--json prints one overview: add --once")
    if not 0.2 <= interval <= 3600:
        raise click.UsageError(f"--interval {interval:g}: between 0.2 and 3600 seconds")
    with operating() as act:
        if once:
            overview = act(platform_overview)
            if as_json:
                click.echo(json.dumps(overview, indent=2, sort_keys=True))
            else:
                Console().print(view(overview))
            return
        ends = time.monotonic() + MAX_WATCH_SECONDS
        with Live(view(act(platform_overview)), auto_refresh=False) as live:
            while time.monotonic() < ends:
                time.sleep(interval)
                live.update(view(act(platform_overview)), refresh=True)
