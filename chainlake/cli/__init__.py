"""The `chainlake` command line: the operator's and the analyst's face of the platform.

A face like `runner/` and `api/`: each command group is a module of this package and calls the
domain layer (`chainlake.domain`) through `common.acting`; `common` holds what they share."""

from __future__ import annotations

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
)
from chainlake.cli.common import fail, local_only, profile_in_effect
from chainlake.errors import ChainlakeError

# what works on the operator's machine only: with a profile in effect they refuse, saying so
LOCAL_ONLY = {"up", "down", "status", "doctor", "migrate", "runner", "image", "devchain"}
LOCAL_ONLY |= {"token", "psql"}


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
    pii.pii,
    egress.egress,
    # signing in to an API from anywhere
    *remote.COMMANDS,
]
for command in COMMANDS:
    main.add_command(command)
