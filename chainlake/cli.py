"""The `chainlake` command line: the operator's and the analyst's face of the platform."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import psycopg

from chainlake import assets as asset_store
from chainlake import jobdefs, tenancy
from chainlake import runs as run_store
from chainlake.db import call, connect
from chainlake.errors import ChainlakeError, InvalidInput
from chainlake.local.stack import Stack
from chainlake.tokens import issue_dev_token

P = ParamSpec("P")
R = TypeVar("R")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=_json_default))


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    cells = [
        [str(row.get(c, "") if row.get(c) is not None else "") for c in columns] for row in rows
    ]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a ChainlakeError as one clear line (plus its hint) and exit non-zero."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ChainlakeError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


@contextmanager
def admin_connection() -> Iterator[psycopg.Connection[Any]]:
    conn = connect(Stack.load().admin_url(), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def connection(as_email: str | None) -> Iterator[psycopg.Connection[Any]]:
    """The operator's connection, or with an email that user's RLS-scoped login role."""
    if not as_email:
        with admin_connection() as conn:
            yield conn
        return
    stack = Stack.load()
    with admin_connection() as admin:
        url = tenancy.user_connection_url(admin, stack.admin_url(), as_email, stack.embedded)
    conn = connect(url, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


AS_OPTION = click.option(
    "--as", "as_email", default=None, help="Act as this user (their RLS-scoped login role)."
)


@click.group(help="chainlake: a Postgres-centric data platform for blockchain data.")
@click.version_option(package_name="chainlake", message="%(prog)s %(version)s")
def main() -> None:
    pass


# -- the stack -----------------------------------------------------------------------------
def _status_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    for comp in status["components"]:
        line = f"  {comp['name']:<10} {comp['state']:<8} {comp.get('address') or ''}"
        if comp.get("pid") and not comp.get("address"):
            line += f"pid {comp['pid']}  (log {comp.get('log')})"
        if comp.get("data"):
            line += f"  (data {comp['data']})"
        if comp.get("traffic"):
            traffic = comp["traffic"]
            line += (
                f"  (traffic {traffic['mined_per_second']:g} tx/s mined over the last minute"
                f" of {traffic['rate']:g} sent; {traffic['resyncs']} resync(s))"
            )
        lines.append(line)
    return lines


@main.command(help="Start the stack (embedded defaults, or CHAINLAKE_DATABASE_URL) and migrate.")
@click.option("--no-runner", is_flag=True, help="Do not start a background runner.")
@click.option(
    "--no-chain", is_flag=True, help="Start no devchain and install no chain or demo jobs."
)
@handles_errors
def up(no_runner: bool, no_chain: bool) -> None:
    stack = Stack.load()
    report = stack.up(runner=not no_runner, chain=not no_chain)
    status = stack.status()
    click.echo("chainlake is up")
    click.echo("\n".join(_status_lines(status)))
    click.echo(f"  migrations {report.short()}")
    click.echo("connect:   chainlake psql            (the operator's admin connection)")
    click.echo("           chainlake psql --as EMAIL (a user's RLS-scoped role)")
    for comp in status["components"]:
        if comp["name"] == "postgres" and comp.get("url"):
            click.echo(f"           psql '{comp['url']}'")
    click.echo("stop:      make down")


@main.command(help="Check what `make up` needs on this machine, and say what to fix.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor(as_json: bool) -> None:
    from chainlake.local.doctor import run_checks

    checks = run_checks()
    if as_json:
        _print_json([vars(c) for c in checks])
    else:
        for check in checks:
            click.echo(f"{check.state:<5} {check.name:<19} {check.detail}")
            if check.fix:
                click.echo(f"{'':<25} fix: {check.fix}")
    sys.exit(1 if any(c.state == "fail" for c in checks) else 0)


@main.command(help="Print the shell completion script (bash, zsh or fish); see docs/operations.md.")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)
    assert complete is not None
    click.echo(complete(main, {}, "chainlake", "_CHAINLAKE_COMPLETE").source())


@main.command(help="Stop every process the stack started.")
@handles_errors
def down() -> None:
    stopped = Stack.load().down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@main.command(help="Each component of the stack, its state and address.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def status(as_json: bool) -> None:
    result = Stack.load().status()
    if as_json:
        _print_json(result)
    else:
        click.echo("\n".join(_status_lines(result)))


@main.command(help="Apply alembic revisions, pgmq, then changed sql/ and rls_policies/ files.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def migrate(as_json: bool) -> None:
    from chainlake.migrate import migrate as run_migrations

    report = run_migrations(Stack.load().admin_url())
    if as_json:
        _print_json(report.as_dict())
    else:
        click.echo(report.summary())


# -- orgs and users ------------------------------------------------------------------------
@main.group(help="Organizations (tenants).")
def org() -> None:
    pass


@org.command("create", help="Create an org.")
@click.argument("name")
@click.option("--display-name", default=None)
@handles_errors
def org_create(name: str, display_name: str | None) -> None:
    with admin_connection() as conn:
        created = tenancy.create_org(conn, name, display_name)
    click.echo(f"created org {created['name']} ({created['id']})")


@org.command("list", help="List orgs.")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def org_list(as_json: bool) -> None:
    with admin_connection() as conn:
        rows = tenancy.list_orgs(conn)
    _print_json(rows) if as_json else _print_table(rows, ["name", "display_name", "members"])


@org.command("grant", help="Let every member of TO_ORG read FROM_ORG's data.")
@click.argument("from_org")
@click.argument("to_org")
@handles_errors
def org_grant(from_org: str, to_org: str) -> None:
    with admin_connection() as conn:
        tenancy.grant_org_read(conn, from_org, to_org)
    click.echo(f"org {to_org} may now read org {from_org}'s data")


@org.command("revoke", help="Take back a grant made with `org grant`.")
@click.argument("from_org")
@click.argument("to_org")
@handles_errors
def org_revoke(from_org: str, to_org: str) -> None:
    with admin_connection() as conn:
        tenancy.revoke_org_read(conn, from_org, to_org)
    click.echo(f"org {to_org} may no longer read org {from_org}'s data")


ROLE_OPTION = click.option("--role", required=True, help="reader, writer or admin")


@main.group(help="Users, their memberships and roles.")
def user() -> None:
    pass


@user.command("create", help="Create a user with a login role and a first membership.")
@click.argument("email")
@click.option("--org", "org_name", required=True)
@ROLE_OPTION
@handles_errors
def user_create(email: str, org_name: str, role: str) -> None:
    with admin_connection() as conn:
        created = tenancy.create_user(conn, email, org_name, role)
    click.echo(
        f"created user {created['email']} ({role} in {org_name}); "
        f"SQL login role {created['db_role']}"
    )


@user.command("add", help="Add an existing user to another org.")
@click.argument("email")
@click.option("--org", "org_name", required=True)
@ROLE_OPTION
@handles_errors
def user_add(email: str, org_name: str, role: str) -> None:
    with admin_connection() as conn:
        tenancy.add_member(conn, email, org_name, role)
    click.echo(f"{email} is now {role} in {org_name}")


@user.command("list", help="List users and their memberships.")
@click.option("--org", "org_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def user_list(org_name: str | None, as_json: bool) -> None:
    with admin_connection() as conn:
        rows = tenancy.list_users(conn, org_name)
    _print_json(rows) if as_json else _print_table(rows, ["email", "org", "role"])


@main.command(help="Print a JWT for a user, signed by the local dev issuer.")
@click.option("--user", "email", required=True)
@click.option("--ttl", default=3600, show_default=True, help="Lifetime in seconds.")
@handles_errors
def token(email: str, ttl: int) -> None:
    stack = Stack.load()
    with admin_connection() as conn:
        found = tenancy.user_by_email(conn, email)
    click.echo(
        issue_dev_token(stack.settings.dev_issuer_dir, str(found["id"]), found["email"], ttl)
    )


@main.command(
    help="psql as the operator, or with --as EMAIL as that user's RLS-scoped role. "
    "Other arguments go to psql (e.g. -At -c 'select 1').",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--as", "as_email", default=None, help="Connect as this user.")
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
@handles_errors
def psql(as_email: str | None, psql_args: tuple[str, ...]) -> None:
    stack = Stack.load()
    url = stack.admin_url()
    if as_email:
        with admin_connection() as conn:
            url = tenancy.user_connection_url(conn, url, as_email, via_socket=stack.embedded)
    binary = shutil.which("psql")
    if binary is None:
        raise ChainlakeError("psql not found", "install the PostgreSQL client (postgresql-client)")
    sys.stdout.flush()
    os.execv(binary, [binary, "--dbname", url, *psql_args])  # noqa: S606 - psql takes over


# -- jobs and runs -------------------------------------------------------------------------
@main.group(help="Job definitions and manual runs.")
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
        _print_json(rows)
    else:
        columns = ["org", "name", "version", "kind", "type", "activation", "schedule_error"]
        _print_table(rows, columns)


def _params(pairs: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param {pair!r} is not KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


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
        run = run_store.request(conn, org_name, name, _params(param_pairs))
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


@main.group("run", help="Run history: list, show, logs.")
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
        _print_json(rows)
    else:
        _print_table(
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
        _print_json(run)
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


@main.group(help="Runs that exhausted their attempts.")
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
        _print_json(rows)
    else:
        _print_table(
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


@main.command(help="Serve run tasks (a runner process; stop it with SIGTERM to drain).")
@click.option("--concurrency", default=4, show_default=True)
@click.option("--lease-seconds", default=30, show_default=True)
@handles_errors
def runner(concurrency: int, lease_seconds: int) -> None:
    argv = Stack.load().runner_argv(concurrency, lease_seconds)
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - the runner process takes over


@main.group(help="Container images for the container launcher (podman, built locally).")
def image() -> None:
    pass


@image.command("base", help="Build the base image once (debootstrap: Debian with python3, node).")
@handles_errors
def image_base() -> None:
    from chainlake.containers import ensure_base_image

    click.echo(f"base image {ensure_base_image()} is ready")


@image.command("build", help="Build a job's image from its definition's folder.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@handles_errors
def image_build(file: Path) -> None:
    from chainlake.containers import build_job_image

    spec = jobdefs.load(file)
    click.echo(f"built {build_job_image(file.parent, spec['name'], spec['version'])}")


# -- assets, lineage, verification -----------------------------------------------------------
@main.group(help="Datasets and their versions.")
def asset() -> None:
    pass


@asset.command("list", help="Datasets with their current version.")
@click.option("--org", "org_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def asset_list(org_name: str | None, as_json: bool, as_email: str | None) -> None:
    with connection(as_email) as conn:
        rows = asset_store.list_datasets(conn, org_name)
    _print_json(rows) if as_json else _print_table(
        rows, ["org", "name", "current_version", "versions", "needs_rebuild", "updated_at"]
    )


@asset.command("versions", help="Every version of a dataset: run, rows, bytes, schema, when.")
@click.argument("dataset")
@click.option("--org", "org_name", required=True)
@click.option("--json", "as_json", is_flag=True)
@AS_OPTION
@handles_errors
def asset_versions(dataset: str, org_name: str, as_json: bool, as_email: str | None) -> None:
    with connection(as_email) as conn:
        rows = asset_store.versions(conn, org_name, dataset)
    if as_json:
        _print_json(rows)
    else:
        _print_table(
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
    with connection(as_email) as conn:
        queued = asset_store.rollback(conn, org_name, dataset, version)
    click.echo(f"{dataset} is at version {version}; {queued} dependant run(s) queued")


@main.command(
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
    with connection(as_email) as conn:
        graph = asset_store.lineage(conn, org_name, dataset, version, downstream, depth)
        events = asset_store.openlineage_events(conn, org_name, graph) if openlineage else []
    if openlineage:
        for event in events:
            click.echo(json.dumps(event))
        return
    if as_json:
        _print_json(graph)
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


@main.command(
    help="Re-hash a version's files against its manifest; name what is missing or altered."
)
@click.argument("dataset")
@click.option("--org", "org_name", required=True)
@click.option("--version", type=int, default=None, help="Default: the current version.")
@AS_OPTION
@handles_errors
def verify(dataset: str, org_name: str, version: int | None, as_email: str | None) -> None:
    from chainlake.manifests import verify as check_files

    with connection(as_email) as conn:
        checked, manifest = asset_store.manifest(conn, org_name, dataset, version)
    problems = check_files(manifest)
    for problem in problems:
        click.echo(problem)
    files = len(manifest.get("files", []))
    if problems:
        click.echo(
            f"{dataset} v{checked}: {len(problems)} of {files} file(s) do not verify", err=True
        )
        sys.exit(1)
    click.echo(f"{dataset} v{checked}: {files} file(s) verified")


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


@main.command(help="Backfill a partitioned dataset: one run per partition of FROM..TO.")
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
    with connection(as_email) as conn:
        started = asset_store.backfill(conn, org_name, dataset, start, end)
        total = int(started["runs"])
        click.echo(f"backfill {started['backfill_id']}: {total} partition run(s) queued")
        ends = time.monotonic() + timeout
        while wait:
            progress = asset_store.backfill_progress(conn, str(started["backfill_id"]))
            done = sum(progress.get(s, 0) for s in run_store.FINAL_STATUSES)
            click.echo(
                f"  {done}/{total} finished: "
                + ", ".join(f"{k} {v}" for k, v in sorted(progress.items()))
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
        with connection(as_email) as conn:
            stale = asset_store.status(conn, org_name)
        stale = [r for r in stale if dataset is None or r["dataset"] == dataset]
        if as_json:
            _print_json(stale)
            return
        for row in stale:
            state = "stale: " + "; ".join(row["reasons"]) if row["stale"] else "fresh"
            click.echo(f"{row['dataset']} v{row['current_version']}  {state}")
            for line in _status_details(row):
                click.echo(f"  {line}")
        return
    if dataset is None or start is None or end is None:
        raise InvalidInput("partition status needs DATASET, --from and --to")
    with connection(as_email) as conn:
        rows = asset_store.partition_status(conn, org_name, dataset, start, end)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    if as_json:
        _print_json({"partitions": rows, "counts": counts})
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
    with connection(as_email) as conn:
        shown = asset_store.preview(conn, org_name, dataset, version, partition, limit)
    where = f" partition {shown['partition']}" if shown["partition"] else ""
    click.echo(f"# {dataset} v{shown['version']}{where}")
    for record in shown["records"]:
        click.echo(record)


# -- chain data (chainlake/cli_chain.py) ------------------------------------------------------
def _register_chain_commands() -> None:
    from chainlake.cli_alerts import alert
    from chainlake.cli_audit import audit
    from chainlake.cli_chain import chain, devchain
    from chainlake.cli_egress import egress
    from chainlake.cli_pii import pii
    from chainlake.cli_query import catalog, query, saved_query, share
    from chainlake.cli_secrets import secret

    main.add_command(chain)
    main.add_command(devchain)
    main.add_command(query)
    main.add_command(catalog)
    main.add_command(saved_query)
    main.add_command(share)
    main.add_command(alert)
    main.add_command(secret)
    main.add_command(audit)
    main.add_command(pii)
    main.add_command(egress)


_register_chain_commands()
