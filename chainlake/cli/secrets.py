"""`chainlake secret`: the org's job secrets. A job declares the names it needs (`secrets:
[api_token]`) and receives each as CHAINLAKE_SECRET_<NAME>. Values are encrypted here, with the
platform key, before they reach Postgres; nothing ever shows them again, and a job that prints
one has it stored as [REDACTED]."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from chainlake.cli.common import AS_USER, acting, fail, handles_errors, print_rows, stamp
from chainlake.domain import secrets
from chainlake.errors import ChainlakeError, InvalidInput
from chainlake.local.stack import Stack


@click.group(help="Job secrets: set, list (names only), delete.")
def secret() -> None:
    pass


@secret.command("set", help="Set secret NAME of --org from --value-env VAR, else stdin.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option("--value-env", default=None, help="Read the value from this environment variable.")
@AS_USER
@handles_errors
def secret_set(name: str, org_name: str, value_env: str | None, as_email: str | None) -> None:

    value = os.environ.get(value_env, "") if value_env else sys.stdin.read().rstrip("\n")
    if not value:
        raise InvalidInput(
            f"no value for secret {name}",
            f"set {value_env} or pipe the value in" if value_env else "pipe the value in",
        )
    with acting(as_email) as act:
        act(secrets.set_secret, org=org_name, name=name, value=value, key=act.key())
    click.echo(f"secret {org_name}/{name} set")


@secret.command("list", help="The secrets of your orgs: names, never values.")
@AS_USER
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def secret_list(as_email: str | None, as_json: bool) -> None:
    def line(r: dict[str, Any]) -> str:
        return f"{r['org']}/{r['name']}  set {stamp(r['updated_at'])}"

    with acting(as_email) as act:
        found = act(secrets.list_secrets)
    print_rows(found, as_json, line, "no secrets")


@secret.command("delete", help="Delete secret NAME of --org.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@AS_USER
@handles_errors
def secret_delete(name: str, org_name: str, as_email: str | None) -> None:
    with acting(as_email) as act:
        act(secrets.delete_secret, org=org_name, name=name)
    click.echo(f"secret {org_name}/{name} deleted")


@secret.command(
    "rotate-key",
    help="Put a new platform key first in .chainlake/secret.key and re-encrypt every stored "
    "secret with it (the old keys still decrypt until --retire). With CHAINLAKE_SECRET_KEY set, "
    "put the new key first in it yourself; this re-encrypts with it. Restart the stack after.",
)
@click.option("--retire", is_flag=True, help="Then keep only the new key in the key file.")
def secret_rotate_key(retire: bool) -> None:
    import psycopg

    from chainlake.secrets import add_key_to_file, load_key, reencrypt_all, retire_old_keys

    stack = Stack.load()
    home = stack.settings.home
    try:
        from_env = bool(os.environ.get("CHAINLAKE_SECRET_KEY"))
        key = load_key(home) if from_env else add_key_to_file(home)
        with psycopg.connect(stack.admin_url()) as conn:
            done = reencrypt_all(conn, key)
        if retire and not from_env:
            retire_old_keys(home)
    except ChainlakeError as exc:
        fail(exc)
        return
    click.echo(f"re-encrypted {done.changed} stored secret(s) with the new key")
    for kind, org, name in done.undecryptable:
        click.echo(
            f"warning: {kind} {org}/{name} decrypts with none of the keys; left as it is "
            "(its org sets it again)",
            err=True,
        )
    click.echo("restart the stack (`chainlake down && chainlake up`) so that every service has it")
