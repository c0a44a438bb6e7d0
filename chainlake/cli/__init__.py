"""The `chainlake` command line: the operator's and the analyst's face of the platform.

A face like `runner/` and `api/`: each command group is a module of this package and calls the
domain layer (`chainlake.domain`) through `common.acting`; `common` holds what they share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

import click

from chainlake.cli import (
    alerts,
    assets,
    audit,
    chain,
    egress,
    jobs,
    orgs,
    pii,
    query,
    remote,
    secrets,
    stack,
    top,
    usage,
)
from chainlake.cli.common import fail, local_only, profile_in_effect
from chainlake.cli.shown import show_only
from chainlake.errors import ChainlakeError

# what works on the operator's machine only: with a profile in effect they refuse, saying so
LOCAL_ONLY = {"up", "down", "status", "doctor", "migrate", "runner", "image", "devchain"}
LOCAL_ONLY |= {"token", "psql", "top"}
# what works anywhere without acting as anyone: signing in, profiles, shell completion
ANYWHERE = {"login", "logout", "profile", "completion"}


@click.group(help="chainlake: a Postgres-centric data platform for blockchain data.")
@click.version_option(package_name="chainlake", message="%(prog)s %(version)s")
@click.option(
    "--profile",
    default=None,
    help="Go through the API signed in as this profile (`chainlake login`); `local`: this "
    "machine's stack. Default: $CHAINLAKE_PROFILE, else `chainlake profile use`.",
)
@click.pass_context
def main(ctx: click.Context, profile: str | None) -> None:
    show_only()  # what servers say is shown, never obeyed by the terminal
    if ctx.invoked_subcommand not in LOCAL_ONLY:
        return
    try:
        chosen = profile_in_effect()
        if chosen is not None:
            raise local_only(chosen, f"{ctx.command_path} {ctx.invoked_subcommand}")
    except ChainlakeError as exc:
        fail(exc)


COMMANDS: list[click.Command] = [
    # the local stack (the operator's)
    stack.up,
    stack.down,
    stack.status,
    stack.doctor,
    stack.migrate,
    stack.runner,
    stack.image,
    stack.completion,
    top.top,
    chain.devchain,
    # orgs, users, identity
    orgs.org,
    orgs.user,
    orgs.token,
    orgs.psql,
    # jobs, runs, assets
    jobs.job,
    jobs.run_group,
    jobs.deadletter,
    assets.asset,
    assets.lineage,
    assets.verify,
    assets.backfill,
    # chain data, queries, sharing
    chain.chain,
    query.query,
    query.catalog,
    query.saved_query,
    query.share,
    # alerts, secrets, audit, PII, egress
    alerts.alert,
    secrets.secret,
    audit.audit,
    usage.usage,
    pii.pii,
    egress.egress,
    # signing in to an API from anywhere
    *remote.COMMANDS,
]
for command in COMMANDS:
    main.add_command(command)


def has_as(command: click.Command) -> bool:
    """A user command: it acts as someone (`--as`), locally or through a profile."""
    return any(isinstance(p, click.Option) and "--as" in p.opts for p in command.params)


def leaves(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command under `command` that runs something (not a group)."""
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from leaves(sub, (*path, name))
    else:
        yield path


def command_at(path: tuple[str, ...]) -> click.Command:
    found: click.Command = main
    for name in path:
        assert isinstance(found, click.Group)
        found = found.commands[name]
    return found


def _operators_only(callback: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(callback)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            chosen = profile_in_effect()
            if chosen is not None:
                raise local_only(chosen)
        except ChainlakeError as exc:
            fail(exc)
        return callback(*args, **kwargs)

    return guarded


# Every command that acts as nobody (no `--as`) is the operator's: through a profile it refuses,
# saying so, before it touches anything (a new operator command cannot reach a laptop's cwd).
for _path in list(leaves(main)):
    _command = command_at(_path)
    if _path[0] not in ANYWHERE and not has_as(_command) and _command.callback is not None:
        _command.callback = _operators_only(_command.callback)
