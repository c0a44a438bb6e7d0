"""What every command group of the CLI shares: output (JSON, tables, query pages), errors (one
clear line and a hint, the error's exit code), and whom a command acts as (`--as EMAIL`: that
user's RLS-scoped login role; without it, the operator; with a profile in effect, the signed-in
user through the API: chainlake.client)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

import click
import psycopg

from chainlake import tenancy
from chainlake.client import Client
from chainlake.client.profiles import selected
from chainlake.db import connect
from chainlake.errors import ChainlakeError, InvalidInput
from chainlake.local.stack import Stack
from chainlake.query import jsonable

if TYPE_CHECKING:
    from chainlake.storage import ObjectStore

P = ParamSpec("P")
R = TypeVar("R")


def json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=json_default))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
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


def profile_in_effect() -> str | None:
    """The profile this command goes through (the root's --profile, $CHAINLAKE_PROFILE, or the
    default profile), or None: this machine's stack."""
    ctx = click.get_current_context(silent=True)
    explicit = ctx.find_root().params.get("profile") if ctx is not None else None
    return selected(explicit)


def local_only(profile: str, command: str | None = None) -> InvalidInput:
    """The error of a command that works on the operator's machine only, run with a profile."""
    ctx = click.get_current_context(silent=True)
    command = command or (ctx.command_path if ctx is not None else "this command")
    return InvalidInput(
        f"`{command}` works on the operator's machine only, not through the API "
        f"(profile {profile} is in effect)",
        "run it where the stack runs, or here with `--profile local`",
    )


@contextmanager
def admin_connection() -> Iterator[psycopg.Connection[Any]]:
    profile = profile_in_effect()
    if profile is not None:  # never a local database behind a remote user's back
        raise local_only(profile)
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


ROLE_OPTION = click.option("--role", required=True, help="reader, writer or admin")


def print_page(page: dict[str, Any]) -> None:
    click.echo("\t".join(c["name"] for c in page["columns"]))
    for row in page["rows"]:
        click.echo("\t".join("" if v is None else str(jsonable(v)) for v in row))
    if page["truncated"]:
        click.echo(f"(first {page['row_count']} rows; --max-rows or a download format for more)")


def fail(exc: ChainlakeError) -> None:
    """Print the error and its hint, exit with the error's code (as every CLI command does)."""
    click.echo(f"error: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    sys.exit(exc.exit_code)


AS_USER = AS_OPTION


def parse_pairs(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param {pair!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def print_rows(
    rows: list[dict[str, Any]],
    as_json: bool,
    line: Callable[[dict[str, Any]], str],
    empty: str | None = None,
) -> None:
    """Rows of a listing: as JSON, or a line each (`empty` when there are none)."""
    if as_json:
        print_json(rows)
        return
    for r in rows:
        click.echo(line(r))
    if not rows and empty:
        click.echo(empty)


def stamp(iso: str | None) -> str:
    """An ISO 8601 time as `YYYY-MM-DD HH:MM:SS` (how listings print times)."""
    return (iso or "")[:19].replace("T", " ")


class Actor:
    """Runs a domain operation for a command: `act(runs.list_runs, org="acme", limit=10)`.

    Locally it calls the operation on a connection that acts as the operator or, with `--as`, as
    the user's RLS-scoped login role. With a remote profile it calls the API client's method of
    the same name with the same keyword arguments instead (chainlake.client), which answers the
    same JSON."""

    def __init__(
        self, conn: psycopg.Connection[Any] | None = None, client: Client | None = None
    ) -> None:
        self.conn = conn
        self.client = client

    def __call__(
        self,
        op: Callable[Concatenate[psycopg.Connection[Any], P], R],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        if self.client is not None:
            method = getattr(self.client, op.__name__, None)
            if method is None:
                raise InvalidInput(
                    f"the API client has no `{op.__name__}`: this command does not go through "
                    "the API yet",
                    "run it on the operator's machine, or here with `--profile local`",
                )
            return cast(R, method(*args, **kwargs))
        assert self.conn is not None
        return op(self.conn, *args, **kwargs)

    def store(self) -> ObjectStore:
        """The object store an operation reads, run here: the local stack's. Through the API the
        server reads its own: none is opened on this machine (the client ignores `store`)."""
        if self.client is not None:
            return cast("ObjectStore", None)

        return Stack.load().open_store()

    def key(self) -> bytes:
        """The platform key an operation encrypts with, run here. Through the API the server
        encrypts with its own: none is read, or made, on this machine (the client ignores it)."""
        if self.client is not None:
            return b""
        from chainlake.secrets import load_key

        return load_key(Stack.load().settings.home)

    def api_url(self) -> str | None:
        """The API this actor's operations reach: the profile's, or the local stack's if up."""
        return self.client.api_url if self.client is not None else Stack.load().api_url()


@contextmanager
def acting(as_email: str | None) -> Iterator[Actor]:
    """The actor for a command's `--as` (None: the operator), or the API client of the profile
    in effect (where `--as` has no meaning: a profile acts as the user who signed in)."""
    profile = profile_in_effect()
    if profile is not None:
        if as_email:
            raise InvalidInput(
                f"--as acts as a user on the operator's machine; profile {profile} acts as "
                "the user who signed in",
                "drop --as, or sign in as that user: chainlake login --profile NAME",
            )
        with Client.from_profile(profile) as client:
            yield Actor(client=client)
        return
    with connection(as_email) as conn:
        yield Actor(conn)


@contextmanager
def operating() -> Iterator[Actor]:
    """The operator's actor, for the commands that administer the platform itself (orgs, users,
    memberships): they work on the operator's machine only, never through a profile."""
    with admin_connection() as conn:
        yield Actor(conn)
