"""Signing in to a chainlake API from anywhere (`login`, `logout`), the profiles kept for each
deployment (`profile list|use|show`), and `whoami`. See docs/client.md."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from chainlake.cli.common import acting, handles_errors, print_json, print_table
from chainlake.client import Client, login
from chainlake.client.profiles import LOCAL, Profile, Profiles, check_name, selected
from chainlake.domain import orgs
from chainlake.errors import InvalidInput

SECRET_ENV = "CHAINLAKE_CLIENT_SECRET"  # noqa: S105 - the variable's name
DEFAULT_PROFILE = "default"


def _profile_name(option: str | None) -> str:
    """The profile `login`/`logout` act on: their --profile, the root's, $CHAINLAKE_PROFILE, the
    default profile, else `default`."""
    root = click.get_current_context().find_root().params.get("profile")
    return check_name(option or selected(root) or DEFAULT_PROFILE)


def _device_tokens(settings: login.AuthSettings, found: login.Endpoints) -> login.Tokens:
    code = login.start_device_flow(settings, found)
    minutes = max(1, round(code.expires_in / 60))
    click.echo(f"To sign in, open {code.verification_uri} and enter the code {code.user_code}")
    if code.verification_uri_complete:
        click.echo(f"  (or open {code.verification_uri_complete})")
    click.echo(f"Waiting for you to approve it (the code expires in {minutes} min) ...")
    return login.poll_device_flow(settings, found, code)


def _secret_source(
    secret_file: Path | None, known: Profile | None
) -> tuple[str | None, str | None]:
    """(file, environment variable) holding a client secret: --client-secret-file, else
    $CHAINLAKE_CLIENT_SECRET, else where the profile read it before."""
    if secret_file is not None:
        return str(secret_file.resolve()), None
    if os.environ.get(SECRET_ENV):
        return None, SECRET_ENV
    if known is not None and known.grant == "client_credentials":
        return known.client_secret_file, known.client_secret_env
    raise InvalidInput(
        "--client-id needs its secret: --client-secret-file FILE or $" + SECRET_ENV,
        "the secret itself is never written to the profile, only where to read it",
    )


def _signed_in(profile: Profile) -> dict[str, Any]:
    """The API's answer to the new token (whoami): proof that it accepts it."""
    with Client(profile.api_url, profile.access_token, profile=profile.name) as api:
        return api.whoami()


@click.command(help="Sign in to a chainlake API (device sign-in, or --client-id for automation).")
@click.option("--api", "api_url", default=None, help="The API's URL (default: the profile's).")
@click.option("--profile", "profile_option", default=None, help="Name of the profile to save.")
@click.option("--issuer", default=None, help="The OIDC issuer, if the API trusts several.")
@click.option("--client-id", default=None, help="Sign in as this client (client credentials).")
@click.option(
    "--client-secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the client's secret (or set ${SECRET_ENV}).",
)
@handles_errors
def login_command(
    api_url: str | None,
    profile_option: str | None,
    issuer: str | None,
    client_id: str | None,
    client_secret_file: Path | None,
) -> None:
    name = _profile_name(profile_option)
    store = Profiles.load()
    known = store.profiles.get(name)
    api_url = api_url or (known.api_url if known else None)
    if not api_url:
        raise InvalidInput(
            f"profile {name!r} does not exist yet: --api URL names the API to sign in to",
            f"chainlake login --api https://chainlake.example.com --profile {name}",
        )
    if client_id is None and known is not None and known.grant == "client_credentials":
        client_id = known.client_id
    settings = login.auth_settings(api_url, issuer or (known.issuer if known else None))
    found = login.endpoints(settings)
    if client_id is None:
        tokens = _device_tokens(settings, found)
        secret_file, secret_env = None, None
    else:
        secret_file, secret_env = _secret_source(client_secret_file, known)
        secret = login.read_secret(secret_file, secret_env)
        tokens = login.client_credentials(
            found.token, client_id, secret, settings.audience, known.scope if known else ""
        )
    profile = Profile(
        name=name,
        api_url=api_url.rstrip("/"),
        issuer=settings.issuer,
        token_endpoint=found.token,
        audience=settings.audience,
        client_id=client_id or str(settings.client_id),
        grant="client_credentials" if client_id else "device",
        scope="" if client_id else settings.scope,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        client_secret_file=secret_file,
        client_secret_env=secret_env,
    )
    memberships = _signed_in(profile)["memberships"]
    store.put(profile)
    store.save()
    who = memberships[0]["email"] if memberships else client_id
    orgs_roles = ", ".join(f"{m['org']} ({m['role']})" for m in memberships if m.get("org"))
    click.echo(f"Signed in to {profile.api_url} as {who} (profile {name})")
    click.echo(f"  orgs: {orgs_roles or 'none yet'}")
    if store.default != name:
        click.echo(f"  use it with --profile {name}, or make it the default: profile use {name}")


@click.command(help="Forget a profile's tokens (--forget: the whole profile).")
@click.option("--profile", "profile_option", default=None)
@click.option("--forget", is_flag=True, help="Also forget the profile itself.")
@handles_errors
def logout(profile_option: str | None, forget: bool) -> None:
    name = _profile_name(profile_option)
    store = Profiles.load()
    profile = store.get(name)
    if forget:
        store.remove(name)
    else:
        profile.access_token = profile.refresh_token = None
        profile.expires_at = None
    store.save()
    click.echo(f"Signed out of {profile.api_url} (profile {name}{', forgotten' if forget else ''})")


@click.group(help="The APIs you signed in to (`chainlake login`), one profile each.")
def profile() -> None:
    pass


@profile.command("list", help="Every profile; * marks the one in effect.")
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def profile_list(as_json: bool) -> None:
    store = Profiles.load()
    root = click.get_current_context().find_root().params.get("profile")
    current = selected(root)
    rows = [
        {
            " ": "*" if name == current else "",
            "name": name,
            "api": p.api_url,
            "grant": p.grant,
            "signed_in": "yes" if p.access_token else "no",
            "expires": _when(p.expires_at),
        }
        for name, p in sorted(store.profiles.items())
    ]
    if as_json:
        print_json([{k: v for k, v in r.items() if k != " "} for r in rows])
        return
    print_table(rows, [" ", "name", "api", "grant", "signed_in", "expires"])


@profile.command("use", help=f"Make a profile the default ({LOCAL!r}: this machine's stack).")
@click.argument("name")
@handles_errors
def profile_use(name: str) -> None:
    store = Profiles.load()
    store.use(name)
    store.save()
    if store.default is None:
        click.echo("Commands act on this machine's stack unless --profile says otherwise")
    else:
        click.echo(f"Commands go through {store.get(name).api_url} (profile {name})")


@profile.command("show", help="One profile's settings (never its tokens).")
@click.argument("name", required=False)
@handles_errors
def profile_show(name: str | None) -> None:
    root = click.get_current_context().find_root().params.get("profile")
    chosen = name or selected(root)
    if chosen is None:
        raise InvalidInput("no profile is in effect", "name one: chainlake profile show NAME")
    print_json(Profiles.load().get(chosen).summary())


@click.command(help="Who you are: your e-mail, and your role in each of your orgs.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_email", default=None, help="Act as this user (the operator's CLI).")
@handles_errors
def whoami(as_json: bool, as_email: str | None) -> None:
    with acting(as_email) as act:
        found = act(orgs.whoami)
    memberships = found["memberships"]
    if as_json:
        print_json(found)
    elif not memberships:
        click.echo("the operator (no user: `--as EMAIL` acts as one)")
    else:
        click.echo(memberships[0]["email"])
        print_table([m for m in memberships if m.get("org")], ["org", "role"])


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    left = epoch - time.time()
    return "expired" if left <= 0 else f"in {int(left // 60)} min"


login_command.name = "login"
COMMANDS: list[click.Command] = [login_command, logout, profile, whoami]
