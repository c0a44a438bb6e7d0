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
    secrets,
    stack,
)


@click.group(help="chainlake: a Postgres-centric data platform for blockchain data.")
@click.version_option(package_name="chainlake", message="%(prog)s %(version)s")
def main() -> None:
    pass


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
    orgs.whoami,
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
]
for command in COMMANDS:
    main.add_command(command)
