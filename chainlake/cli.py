"""The `chainlake` command line: the operator's and the analyst's face of the platform."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import click
import psycopg

from chainlake import tenancy
from chainlake.db import connect
from chainlake.errors import ChainlakeError
from chainlake.stack import Stack
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


@click.group(help="chainlake: a Postgres-centric data platform for blockchain data.")
def main() -> None:
    pass


# -- the stack -----------------------------------------------------------------------------
def _status_lines(status: dict[str, Any]) -> list[str]:
    lines = []
    for comp in status["components"]:
        line = f"  {comp['name']:<10} {comp['state']:<8} {comp.get('address') or ''}"
        if comp.get("socket"):
            line += f"  (socket {comp['socket']})"
        lines.append(line)
    return lines


@main.command(help="Start the stack (embedded defaults, or CHAINLAKE_DATABASE_URL) and migrate.")
@handles_errors
def up() -> None:
    stack = Stack.load()
    report = stack.up()
    status = stack.status()
    click.echo("chainlake is up")
    click.echo("\n".join(_status_lines(status)))
    click.echo(f"  migrations {report.short()}")
    click.echo("connect:   chainlake psql            (the operator's admin connection)")
    click.echo("           chainlake psql --as EMAIL (a user's RLS-scoped role)")
    for comp in status["components"]:
        if comp.get("url"):
            click.echo(f"           psql '{comp['url']}'")
    click.echo("stop:      make down")


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
