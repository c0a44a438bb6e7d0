"""The operator's commands for the local stack: up, down, status, doctor, migrate, the runner,
container images, shell completion."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from chainlake import jobdefs
from chainlake.cli.common import (
    handles_errors,
    print_json,
)
from chainlake.local.stack import Stack


def _status_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    for comp in status["components"]:
        line = f"  {comp['name']:<10} {comp['state']:<8} {comp.get('address') or ''}"
        if comp.get("pid") and not comp.get("address"):
            line += f"pid {comp['pid']}  (log {comp.get('log')})"
        if comp.get("metrics"):
            line += f"  (metrics {comp['metrics']})"
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


@click.command(help="Start the stack (embedded defaults, or CHAINLAKE_DATABASE_URL) and migrate.")
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


@click.command(help="Check what `make up` needs on this machine, and say what to fix.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor(as_json: bool) -> None:
    from chainlake.local.doctor import run_checks

    checks = run_checks()
    if as_json:
        print_json([vars(c) for c in checks])
    else:
        for check in checks:
            click.echo(f"{check.state:<5} {check.name:<19} {check.detail}")
            if check.fix:
                click.echo(f"{'':<25} fix: {check.fix}")
    sys.exit(1 if any(c.state == "fail" for c in checks) else 0)


@click.command(
    help="Print the shell completion script (bash, zsh or fish); see docs/operations.md."
)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    from click.shell_completion import get_completion_class

    from chainlake.cli import main

    complete = get_completion_class(shell)
    assert complete is not None
    click.echo(complete(main, {}, "chainlake", "_CHAINLAKE_COMPLETE").source())


@click.command(help="Stop every process the stack started.")
@handles_errors
def down() -> None:
    stopped = Stack.load().down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@click.command(help="Each component of the stack, its state and address.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def status(as_json: bool) -> None:
    result = Stack.load().status()
    if as_json:
        print_json(result)
    else:
        click.echo("\n".join(_status_lines(result)))


@click.command(help="Apply alembic revisions, pgmq, then changed sql/ and rls_policies/ files.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def migrate(as_json: bool) -> None:
    from chainlake.migrate import migrate as run_migrations

    report = run_migrations(Stack.load().admin_url())
    if as_json:
        print_json(report.as_dict())
    else:
        click.echo(report.summary())


@click.command(help="Serve run tasks (a runner process; stop it with SIGTERM to drain).")
@click.option("--concurrency", default=4, show_default=True)
@click.option("--lease-seconds", default=30, show_default=True)
@handles_errors
def runner(concurrency: int, lease_seconds: int) -> None:
    stack = Stack.load()
    argv = stack.runner_argv(concurrency, lease_seconds)
    sys.stdout.flush()
    os.execve(sys.executable, argv, stack.runner_env())  # noqa: S606 - the runner takes over


@click.group(help="Container images for the container launcher (podman, built locally).")
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
