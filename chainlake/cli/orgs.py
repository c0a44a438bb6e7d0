"""Orgs, users and memberships (the operator's), a user's dev token, and psql as anyone."""

from __future__ import annotations

import os
import shutil
import sys

import click

from chainlake import tenancy
from chainlake.cli.common import (
    ROLE_OPTION,
    admin_connection,
    handles_errors,
    operating,
    print_json,
    print_table,
)
from chainlake.domain import orgs
from chainlake.errors import ChainlakeError
from chainlake.local.stack import Stack
from chainlake.tokens import issue_dev_token


@click.group(help="Organizations (tenants).")
def org() -> None:
    pass


@org.command("create", help="Create an org.")
@click.argument("name")
@click.option("--display-name", default=None)
@handles_errors
def org_create(name: str, display_name: str | None) -> None:
    with operating() as act:
        created = act(orgs.create_org, name=name, display_name=display_name)
    click.echo(f"created org {created['name']} ({created['id']})")


@org.command("list", help="List orgs.")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def org_list(as_json: bool) -> None:
    with operating() as act:
        rows = act(orgs.list_orgs)
    print_json(rows) if as_json else print_table(rows, ["name", "display_name", "members"])


@org.command("grant", help="Let every member of TO_ORG read FROM_ORG's data.")
@click.argument("from_org")
@click.argument("to_org")
@handles_errors
def org_grant(from_org: str, to_org: str) -> None:
    with operating() as act:
        act(orgs.grant_org_read, from_org=from_org, to_org=to_org)
    click.echo(f"org {to_org} may now read org {from_org}'s data")


@org.command("revoke", help="Take back a grant made with `org grant`.")
@click.argument("from_org")
@click.argument("to_org")
@handles_errors
def org_revoke(from_org: str, to_org: str) -> None:
    with operating() as act:
        act(orgs.revoke_org_read, from_org=from_org, to_org=to_org)
    click.echo(f"org {to_org} may no longer read org {from_org}'s data")


@click.group(help="Users, their memberships and roles.")
def user() -> None:
    pass


@user.command("create", help="Create a user with a login role and a first membership.")
@click.argument("email")
@click.option("--org", "org_name", required=True)
@ROLE_OPTION
@handles_errors
def user_create(email: str, org_name: str, role: str) -> None:
    with operating() as act:
        created = act(orgs.create_user, email=email, org=org_name, role=role)
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
    with operating() as act:
        act(orgs.add_member, email=email, org=org_name, role=role)
    click.echo(f"{email} is now {role} in {org_name}")


@user.command("list", help="List users and their memberships.")
@click.option("--org", "org_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def user_list(org_name: str | None, as_json: bool) -> None:
    with operating() as act:
        rows = act(orgs.list_users, org=org_name)
    print_json(rows) if as_json else print_table(rows, ["email", "org", "role"])


@click.command(help="Print a JWT for a user, signed by the local dev issuer.")
@click.option("--user", "email", required=True)
@click.option("--ttl", default=3600, show_default=True, help="Lifetime in seconds.")
@handles_errors
def token(email: str, ttl: int) -> None:
    stack = Stack.load()
    with operating() as act:
        found = act(orgs.user_by_email, email=email)
    click.echo(
        issue_dev_token(stack.settings.dev_issuer_dir, str(found["id"]), found["email"], ttl)
    )


@click.command(
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
