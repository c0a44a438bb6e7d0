"""Jobs (apply, list, run, webhook secret), runs (list, show, logs, rerun) and dead letters."""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

import click

from chainlake import jobdefs
from chainlake import runs as run_store
from chainlake.cli.common import (
    AS_OPTION,
    connection,
    handles_errors,
    parse_pairs,
    print_json,
    print_table,
)
from chainlake.db import call
from chainlake.errors import ChainlakeError
from chainlake.stack import Stack


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
    with connection(as_email) as conn:
        applied = jobdefs.apply(conn, run_store.org_id(conn, org_name), spec)
    click.echo(f"applied job {applied['name']} version {applied['version']} ({applied['kind']})")


@job.command("list", help="Jobs and their current versions.")
@click.option("--org", "org_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def job_list(org_name: str | None, as_json: bool, as_email: str | None) -> None:
    with connection(as_email) as conn:
        rows = jobdefs.list_jobs(conn, org_name)
    if as_json:
        print_json(rows)
    else:
        columns = ["org", "name", "version", "kind", "type", "activation", "schedule_error"]
        print_table(rows, columns)


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
    with connection(as_email) as conn:
        run = run_store.request(conn, org_name, name, parse_pairs(param_pairs))
        click.echo(f"queued run {run['id']} of {name} {run['job_version']}")
        if not wait:
            return
        ends = time.monotonic() + timeout
        while run["status"] not in run_store.FINAL_STATUSES:
            if time.monotonic() > ends:
                raise ChainlakeError(f"run {run['id']} still {run['status']} after {timeout:g}s")
            time.sleep(0.2)
            run = run_store.get(conn, str(run["id"]))
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
    from chainlake.secrets import encrypt, load_key

    stack = Stack.load()
    secret = secrets.token_urlsafe(32)
    with connection(as_email) as conn:
        org = run_store.org_id(conn, org_name)
        call(
            conn,
            "SELECT jobs.set_webhook_secret(%(org)s, %(job)s, %(enc)s)",
            {"org": org, "job": name, "enc": encrypt(load_key(stack.settings.home), secret)},
        )
    click.echo(f"secret: {secret}")
    click.echo(f"url:    {stack.api_url() or 'http://API'}/v1/webhooks/{org}/{name}")
    click.echo(
        "sign:   X-Chainlake-Timestamp: <unix seconds>; X-Chainlake-Delivery: <id>; "
        "X-Chainlake-Signature: sha256=HMAC_SHA256(secret, '<timestamp>.<delivery>.<body>') "
        "(see docs/job-contract.md)"
    )


@click.group("run", help="Run history: list, show, logs.")
def run_group() -> None:
    pass


@run_group.command("list", help="Recent runs, newest first.")
@click.option("--org", "org_name", default=None)
@click.option("--job", "job_name", default=None)
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def run_list(
    org_name: str | None, job_name: str | None, limit: int, as_json: bool, as_email: str | None
) -> None:
    with connection(as_email) as conn:
        rows = run_store.list_runs(conn, org_name, job_name, limit)
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows,
            ["id", "org", "job_name", "job_version", "status", "attempt", "trigger", "created_at"],
        )


@run_group.command("show", help="Everything about one run: trigger, inputs, outputs, attempts.")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def run_show(run_id: str, as_json: bool, as_email: str | None) -> None:
    with connection(as_email) as conn:
        run = run_store.show(conn, run_id)
    if as_json:
        print_json(run)
        return
    for key in (
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
    ):
        click.echo(f"{key:<18} {run[key]}")
    for key in ("trigger", "params", "config", "inputs", "outputs", "metadata"):
        click.echo(f"{key:<18} {json.dumps(run[key])}")
    if run["error"]:
        click.echo(f"error              {run['error'].get('type')}: {run['error'].get('message')}")
        if run["error"].get("stack"):
            click.echo(run["error"]["stack"].rstrip())


@run_group.command("logs", help="A run's events; --follow until it finishes.")
@click.argument("run_id")
@click.option("--follow", is_flag=True)
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds --follow follows.")
@AS_OPTION
@handles_errors
def run_logs(run_id: str, follow: bool, timeout: float, as_email: str | None) -> None:
    ends = time.monotonic() + timeout
    with connection(as_email) as conn:
        run = run_store.get(conn, run_id)
        seq = 0
        while True:
            for row in run_store.logs(conn, str(run["id"]), seq):
                seq = row["seq"]
                event = row["event"]
                text = event.get("message") or json.dumps(
                    {k: v for k, v in event.items() if k != "type"}
                )
                click.echo(f"{row['at'].isoformat()} [{row['attempt']}] {event['type']}: {text}")
            if not follow or run["status"] in run_store.FINAL_STATUSES:
                break
            if time.monotonic() > ends:
                break
            time.sleep(0.2)
            run = run_store.get(conn, str(run["id"]))


@click.group(help="Runs that exhausted their attempts.")
def deadletter() -> None:
    pass


@deadletter.command("list", help="Dead letters with their last error.")
@click.option("--org", "org_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def deadletter_list(org_name: str | None, as_json: bool, as_email: str | None) -> None:
    with connection(as_email) as conn:
        rows = run_store.dead_letters(conn, org_name)
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows, ["id", "org", "job_name", "attempts", "error_type", "error", "replay_run_id"]
        )


@deadletter.command("replay", help="Run a dead letter's job again with the same params.")
@click.argument("letter_id", type=int)
@click.option("--org", "org_name", required=True)
@AS_OPTION
@handles_errors
def deadletter_replay(letter_id: int, org_name: str, as_email: str | None) -> None:
    with connection(as_email) as conn:
        run = run_store.replay(conn, org_name, letter_id)
    click.echo(f"replayed dead letter {letter_id} as run {run['id']}")


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
    with connection(as_email) as conn:
        run = run_store.get(conn, run_id)
        if from_failure:
            queued = call(conn, "SELECT runs.rerun_failed(%(id)s) AS n", {"id": run["id"]})[0]
            click.echo(f"re-running {queued['n']} failed run(s) of DAG run {run['id']}")
            return
        again = call(conn, "SELECT * FROM runs.rerun(%(id)s)", {"id": run["id"]})[0]
    click.echo(
        f"queued run {again['id']} of {again['job_name']} {again['job_version']} "
        f"(a rerun of {run['id']})"
    )
