"""`chainlake alert`: rules (create, list, show, enable, disable, delete, backtest), channels,
and a live view of firings (`listen`). With --as EMAIL a command acts as that user through their
RLS-scoped login role; without, as the operator. docs/alerts.md."""

from __future__ import annotations

import json
import math
import secrets
import time
from typing import Any

import click

from chainlake.alerts.notices import follow, listen
from chainlake.cli.common import (
    AS_USER,
    acting,
    fail,
    handles_errors,
    parse_pairs,
    print_json,
    print_rows,
    profile_in_effect,
)
from chainlake.domain import alerts as rules
from chainlake.errors import ChainlakeError, InvalidInput, NotFound

MAX_LISTEN_SECONDS = 3600  # the longest one API stream lasts (it is opened again after)


@click.group(help="Alert rules, channels, firings: create, list, show, backtest, listen.")
def alert() -> None:
    pass


@alert.command("create", help="Create or replace rule NAME of --org.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option(
    "--dataset",
    required=True,
    type=click.Choice(["chain.transactions", "chain.logs", "chain.blocks"]),
)
@click.option("--condition", required=True, help="SQL predicate over the dataset's columns.")
@click.option("--severity", type=click.Choice(["info", "warning", "critical"]), default="info")
@click.option("--channel", "channels", multiple=True, help="A channel of the org (repeatable).")
@click.option(
    "--confirmation",
    type=click.Choice(["provisional", "safe", "finalized"]),
    default="provisional",
    show_default=True,
)
@click.option("--window-blocks", type=int, default=None, help="Aggregate over N blocks.")
@click.option("--group-by", multiple=True, help="Group a window rule by these columns.")
@click.option("--dedup-key", multiple=True, help="Columns that identify a repeat.")
@click.option(
    "--throttle",
    "throttle_seconds",
    type=int,
    default=0,
    help="Seconds during which a repeat of the same dedup key does not fire.",
)
@click.option("--chain-id", type=int, default=None, help="Only this chain (default: all).")
@click.option("--description", default="")
@AS_USER
@handles_errors
def alert_create(name: str, org_name: str, as_email: str | None, **fields: Any) -> None:
    spec = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items() if v is not None}
    with acting(as_email) as act:
        act(rules.save_alert_rule, org=org_name, name=name, **spec)
    click.echo(f"alert rule {org_name}/{name} saved")


@alert.command("list", help="The rules of your orgs, with how often each fired.")
@AS_USER
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def alert_list(as_email: str | None, as_json: bool) -> None:
    def line(r: dict[str, Any]) -> str:
        state = "on " if r["enabled"] else "off"
        if r["last_error"]:
            state = "ERR"  # set aside until saved again
        return (
            f"{state} {r['org']}/{r['name']}  [{r['severity']}] {r['dataset']} "
            f"where {r['condition']}  fired {r['firings']}x"
        )

    with acting(as_email) as act:
        found = act(rules.list_alert_rules, limit=1000)
    print_rows(found, as_json, line, "no alert rules")


@alert.command("show", help="One rule and its recent firings with their deliveries.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option("--limit", default=20, show_default=True)
@AS_USER
@handles_errors
def alert_show(name: str, org_name: str, limit: int, as_email: str | None) -> None:
    with acting(as_email) as act:
        print_json(act(rules.get_alert_rule, org=org_name, name=name, limit=limit))


def _switch(name: str, org_name: str, as_email: str | None, enabled: bool) -> None:
    with acting(as_email) as act:
        act(rules.set_alert_rule_enabled, org=org_name, name=name, enabled=enabled)
    click.echo(f"alert rule {org_name}/{name} {'enabled' if enabled else 'disabled'}")


@alert.command("disable", help="Stop evaluating rule NAME (kept, with its firings).")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@AS_USER
@handles_errors
def alert_disable(name: str, org_name: str, as_email: str | None) -> None:
    _switch(name, org_name, as_email, False)


@alert.command("enable", help="Evaluate rule NAME again from the next block.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@AS_USER
@handles_errors
def alert_enable(name: str, org_name: str, as_email: str | None) -> None:
    _switch(name, org_name, as_email, True)


@alert.command("delete", help="Delete rule NAME (its firings stay, for the record).")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@AS_USER
@handles_errors
def alert_delete(name: str, org_name: str, as_email: str | None) -> None:
    with acting(as_email) as act:
        act(rules.delete_alert_rule, org=org_name, name=name)
    click.echo(f"alert rule {org_name}/{name} deleted")


@alert.command("backtest", help="Evaluate rule NAME over blocks --from..--to, hot or cold.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option("--chain-id", type=int, default=31337, show_default=True)
@click.option("--from", "first", type=int, required=True)
@click.option("--to", "last", type=int, required=True)
@click.option("--deliver", is_flag=True, help="Keep the firings and deliver them.")
@click.option("--json", "as_json", is_flag=True)
@AS_USER
def alert_backtest(
    name: str,
    org_name: str,
    chain_id: int,
    first: int,
    last: int,
    deliver: bool,
    as_json: bool,
    as_email: str | None,
) -> None:
    try:
        with acting(as_email) as act:
            found = act(
                rules.backtest_alert_rule,
                org=org_name,
                name=name,
                first=first,
                last=last,
                chain_id=chain_id,
                deliver=deliver,
                store=act.store(),
            )
    except ChainlakeError as exc:
        fail(exc)
        return
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    for f in found:
        click.echo(f"block {f['to_block']}: {f['match_key']}")
    click.echo(
        f"{len(found)} firing(s) over blocks {first}..{last}"
        + (" (delivered)" if deliver else " (nothing kept)")
    )


@alert.command("listen", help="Print firings and retractions as they happen.")
@click.option("--org", "org_name", default=None, help="One org (default: all of yours).")
@click.option("--count", type=int, default=None, help="Stop after N events.")
@click.option("--seconds", type=float, default=None, help="Stop after S seconds.")
@AS_USER
def alert_listen(
    org_name: str | None, count: int | None, seconds: float | None, as_email: str | None
) -> None:
    from chainlake.cli.common import connection

    deadline = time.monotonic() + seconds if seconds is not None else None
    try:
        if profile_in_effect() is not None:
            _listen_through_api(org_name, count, deadline, as_email)
            return
        with connection(as_email) as conn:
            channels = [(c["org"], c["channel"]) for c in rules.notice_channels(conn, org=org_name)]
            if not channels:
                raise NotFound(f'unknown org "{org_name}"')
            listen(conn, [channel for _org, channel in channels])
            click.echo(f"listening on {', '.join(o for o, _ in channels)}", err=True)
            follow(
                conn,
                lambda event: click.echo(json.dumps(event, default=str)),
                lambda note: click.echo(note, err=True),
                count=count,
                deadline=deadline,
            )
    except ChainlakeError as exc:
        fail(exc)
    except KeyboardInterrupt:
        pass


def _listen_through_api(
    org: str | None, count: int | None, deadline: float | None, as_email: str | None
) -> None:
    """The same lines as on the operator's machine, from the API's stream; a stream that ends at
    its timeout is opened again until `deadline`, one whose token expired says so."""
    shown = 0
    with acting(as_email) as act:
        assert act.client is not None
        while True:
            left = MAX_LISTEN_SECONDS if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return
            timeout = max(1, min(MAX_LISTEN_SECONDS, math.ceil(left)))
            for kind, data in act.client.listen_alerts(org=org, timeout=timeout):
                if kind == "listening":
                    click.echo(f"listening on {', '.join(data['orgs'])}", err=True)
                elif kind in ("fired", "retracted", "cleared"):
                    click.echo(json.dumps(data, default=str))
                    shown += 1
                    if count is not None and shown >= count:
                        return
                elif kind == "revoked":
                    raise ChainlakeError(
                        "you may no longer read the firings of the orgs you listened to",
                        "ask an admin of the org for access, then listen again",
                    )
                elif kind == "expired":
                    raise ChainlakeError(
                        "the sign-in expired while listening", "listen again to renew it"
                    )


@alert.group("channel", help="Where alerts go: webhook, email, sms, slack.")
def channel() -> None:
    pass


@channel.command("create", help="Create or replace channel NAME of --org.")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option("--kind", type=click.Choice(["webhook", "email", "sms", "slack"]), required=True)
@click.option(
    "--target",
    required=True,
    help="webhook/slack: the URL; email: the address; sms: the phone number.",
)
@click.option(
    "--config",
    "config_pairs",
    multiple=True,
    help="KEY=VALUE: email host, port, from, user; sms base_url, account_sid, from.",
)
@click.option(
    "--secret-env",
    default=None,
    help="Read the channel secret (SMTP password, SMS token, webhook key) from this "
    "environment variable. A webhook without one gets a new key, printed once.",
)
@AS_USER
@handles_errors
def channel_create(
    name: str,
    org_name: str,
    kind: str,
    target: str,
    config_pairs: tuple[str, ...],
    secret_env: str | None,
    as_email: str | None,
) -> None:
    import os

    secret = None
    if secret_env:
        secret = os.environ.get(secret_env)
        if not secret:
            raise InvalidInput(f"--secret-env {secret_env}: the variable is not set")
    made = None
    if secret is None and kind == "webhook":
        secret = made = secrets.token_urlsafe(32)
    config = parse_pairs(config_pairs)
    with acting(as_email) as act:
        act(
            rules.save_alert_channel,
            org=org_name,
            name=name,
            kind=kind,
            target=target,
            config=config,
            secret=secret,
            key=act.key(),
        )
    click.echo(f"channel {org_name}/{name} ({kind}) saved")
    if made:
        click.echo(f"signing key (shown once): {made}")
        click.echo(
            "verify: X-Chainlake-Signature == sha256=HMAC_SHA256(key, "
            "'<X-Chainlake-Timestamp>.<X-Chainlake-Delivery>.<body>')"
        )


@channel.command("list", help="The channels of your orgs (secrets are never shown).")
@AS_USER
@click.option("--json", "as_json", is_flag=True)
@handles_errors
def channel_list(as_email: str | None, as_json: bool) -> None:
    def line(r: dict[str, Any]) -> str:
        return f"{r['org']}/{r['name']}  {r['kind']}  {r['target']}"

    with acting(as_email) as act:
        found = act(rules.list_alert_channels)
    print_rows(found, as_json, line, "no channels")
