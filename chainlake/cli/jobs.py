"""Jobs (apply, list, show, run, webhook secret), runs (list, show, logs, cancel, rerun) and dead
letters: each command one domain operation (chainlake.domain.jobs, runs) through the actor."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from chainlake import jobdefs
from chainlake.cli.common import (
    AS_OPTION,
    acting,
    handles_errors,
    parse_pairs,
    print_json,
    print_table,
)
from chainlake.domain import jobs, runs
from chainlake.errors import ChainlakeError


@click.group(help="Job definitions and manual runs.")
def job() -> None:
    pass


@job.command("apply", help="Apply a job definition (YAML) to an org.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", "org_name", required=True)
@AS_OPTION
@handles_errors
def job_apply(file: Path, org_name: str, as_email: str | None) -> None:
    spec = jobdefs.load(file)
    with acting(as_email) as act:
        applied = act(jobs.apply_job, org=org_name, definition=spec)
    click.echo(f"applied job {applied['name']} version {applied['version']} ({applied['kind']})")


@job.command("list", help="Jobs and their current versions.")
@click.option("--org", "org_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def job_list(org_name: str | None, as_json: bool, as_email: str | None) -> None:
    with acting(as_email) as act:
        rows = act(jobs.list_jobs, org=org_name)
    if as_json:
        print_json(rows)
    else:
        columns = ["org", "name", "version", "kind", "type", "activation", "schedule_error"]
        print_table(rows, columns)


@job.command("show", help="One job: its current definition, its versions, its schedule.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@AS_OPTION
@handles_errors
def job_show(name: str, org_name: str, as_email: str | None) -> None:
    with acting(as_email) as act:
        print_json(act(jobs.show_job, org=org_name, name=name))


@job.command("run", help="Run a job now (manual activation).")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option("--param", "param_pairs", multiple=True, help="KEY=VALUE (VALUE may be JSON).")
@click.option("--wait", is_flag=True, help="Wait for the run to finish; exit 1 unless it succeeds.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds --wait waits.")
@AS_OPTION
@handles_errors
def job_run(
    name: str,
    org_name: str,
    param_pairs: tuple[str, ...],
    wait: bool,
    timeout: float,
    as_email: str | None,
) -> None:
    with acting(as_email) as act:
        run = act(jobs.run_job, org=org_name, name=name, params=parse_pairs(param_pairs))
        click.echo(f"queued run {run['id']} of {name} {run['job_version']}")
        if not wait:
            return
        ends = time.monotonic() + timeout
        while run["status"] not in runs.FINAL_STATUSES:
            left = ends - time.monotonic()
            if left <= 0:
                raise ChainlakeError(f"run {run['id']} still {run['status']} after {timeout:g}s")
            seconds = min(left, runs.MAX_WAIT_SECONDS)
            run = act(runs.await_run, run_id=str(run["id"]), seconds=seconds)
    click.echo(f"run {run['id']} {run['status']}")
    if run["status"] != "succeeded":
        error = run["error"] or {}
        click.echo(f"error: {error.get('type')}: {error.get('message')}", err=True)
        sys.exit(1)


@job.command("webhook-secret", help="Make a new HMAC secret for a webhook job; print it once.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@AS_OPTION
@handles_errors
def job_webhook_secret(name: str, org_name: str, as_email: str | None) -> None:
    with acting(as_email) as act:
        made = act(jobs.set_webhook_secret, org=org_name, name=name, key=act.key())
        url = act.api_url()
    click.echo(f"secret: {made['secret']}")
    click.echo(f"url:    {url or 'http://API'}{made['path']}")
    click.echo(
        "sign:   X-Chainlake-Timestamp: <unix seconds>; X-Chainlake-Delivery: <id>; "
        "X-Chainlake-Signature: sha256=HMAC_SHA256(secret, '<timestamp>.<delivery>.<body>') "
        "(see docs/job-contract.md)"
    )


@click.group("run", help="Run history: list, show, logs, cancel, rerun.")
def run_group() -> None:
    pass


@run_group.command("list", help="Recent runs, newest first.")
@click.option("--org", "org_name", default=None)
@click.option("--job", "job_name", default=None)
@click.option("--status", type=click.Choice(runs.STATUSES), default=None)
@click.option("--trigger", default=None, help="manual, cron, webhook, reactive, rerun, ...")
@click.option("--since", default=None, help="Created at or after (ISO 8601).")
@click.option("--after", default=None, help="The run id a previous page ended with.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def run_list(
    org_name: str | None,
    job_name: str | None,
    status: str | None,
    trigger: str | None,
    since: str | None,
    after: str | None,
    limit: int,
    as_json: bool,
    as_email: str | None,
) -> None:
    with acting(as_email) as act:
        page = act(
            runs.list_runs,
            org=org_name,
            job=job_name,
            status=status,
            trigger=trigger,
            since=since,
            after=after,
            limit=limit,
        )
    if as_json:
        print_json(page["items"])
    else:
        print_table(
            page["items"],
            ["id", "org", "job_name", "job_version", "status", "attempt", "trigger", "created_at"],
        )
    if page["next"]:
        click.echo(f"(more: --after {page['next']})", err=True)


SHOWN = (
    "id",
    "org",
    "job_name",
    "job_version",
    "status",
    "attempt",
    "max_attempts",
    "initiated_by_email",
    "created_at",
    "started_at",
    "finished_at",
    "duration_seconds",
    "trace_id",
)


@run_group.command("show", help="Everything about one run: trigger, inputs, outputs, attempts.")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def run_show(run_id: str, as_json: bool, as_email: str | None) -> None:
    with acting(as_email) as act:
        run = act(runs.show_run, run_id=run_id)
    if as_json:
        print_json(run)
        return
    for key in SHOWN:
        click.echo(f"{key:<18} {run.get(key)}")
    for key in ("trigger", "params", "config", "inputs", "outputs", "metadata"):
        click.echo(f"{key:<18} {json.dumps(run.get(key))}")
    if run["error"]:
        click.echo(f"error              {run['error'].get('type')}: {run['error'].get('message')}")
        if run["error"].get("stack"):
            click.echo(run["error"]["stack"].rstrip())


def _log_line(row: dict[str, Any]) -> str:
    event = row["event"]
    text = event.get("message") or json.dumps({k: v for k, v in event.items() if k != "type"})
    return f"{row['at']} [{row['attempt']}] {event['type']}: {text}"


@run_group.command("logs", help="A run's events; --follow until it finishes.")
@click.argument("run_id")
@click.option("--follow", is_flag=True)
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds --follow follows.")
@AS_OPTION
@handles_errors
def run_logs(run_id: str, follow: bool, timeout: float, as_email: str | None) -> None:
    ends = time.monotonic() + timeout
    seq = 0
    with acting(as_email) as act:
        while True:
            page = act(runs.run_logs, run_id=run_id, after=seq)
            for row in page["items"]:
                click.echo(_log_line(row))
            seq = page["next"]
            if page["items"] and len(page["items"]) >= 1000:
                continue  # more events are waiting: read them before deciding to stop
            if not follow or page["status"] in runs.FINAL_STATUSES:
                break
            if time.monotonic() > ends:
                break
            time.sleep(0.2)


@run_group.command("cancel", help="Cancel a queued or running run.")
@click.argument("run_id")
@AS_OPTION
@handles_errors
def run_cancel(run_id: str, as_email: str | None) -> None:
    with acting(as_email) as act:
        run = act(runs.cancel_run, run_id=run_id)
    click.echo(f"run {run['id']} {run['status']}")


@run_group.command(
    "rerun",
    help="Run one job again with the same inputs (nothing upstream); "
    "with --from-failure, every failed node of the DAG run RUN_ID set off.",
)
@click.argument("run_id")
@click.option("--from-failure", is_flag=True, help="Re-execute the DAG run from its failures.")
@AS_OPTION
@handles_errors
def run_rerun(run_id: str, from_failure: bool, as_email: str | None) -> None:
    with acting(as_email) as act:
        done = act(runs.rerun, run_id=run_id, from_failure=from_failure)
    if from_failure:
        click.echo(f"re-running {done['queued']} failed run(s) of DAG run {done['rerun_of']}")
        return
    again = done["run"]
    click.echo(
        f"queued run {again['id']} of {again['job_name']} {again['job_version']} "
        f"(a rerun of {done['rerun_of']})"
    )


@click.group(help="Runs that exhausted their attempts.")
def deadletter() -> None:
    pass


@deadletter.command("list", help="Dead letters with their last error.")
@click.option("--org", "org_name", default=None)
@click.option("--after", type=int, default=None, help="The id a previous page ended with.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def deadletter_list(
    org_name: str | None, after: int | None, limit: int, as_json: bool, as_email: str | None
) -> None:
    with acting(as_email) as act:
        page = act(runs.list_dead_letters, org=org_name, after=after, limit=limit)
    if as_json:
        print_json(page["items"])
    else:
        print_table(
            page["items"],
            ["id", "org", "job_name", "attempts", "error_type", "error", "replay_run_id"],
        )


@deadletter.command("replay", help="Run a dead letter's job again with the same params.")
@click.argument("letter_id", type=int)
@click.option("--org", "org_name", default=None, help="(The letter's org; not needed.)")
@AS_OPTION
@handles_errors
def deadletter_replay(letter_id: int, org_name: str | None, as_email: str | None) -> None:
    with acting(as_email) as act:
        run = act(runs.replay_dead_letter, letter_id=letter_id)
    click.echo(f"replayed dead letter {letter_id} as run {run['id']}")
