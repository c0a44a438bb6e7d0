"""Egress on a tenant's behalf, the database side of the guarded client (chainlake/outbound.py):
the policy it reads from Postgres (sql/core/91_egress.sql), the check of the names a channel targets
when it is saved (Postgres checks literal addresses, schemes and ports itself; a name is
resolved here and each of its addresses checked by Postgres), and the stack's registration of
its own services and of the operator's allow-list ($CHAINLAKE_EGRESS_ALLOW)."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import psycopg

from chainlake.db import call
from chainlake.domain.egress import egress_policy
from chainlake.errors import InvalidInput
from chainlake.outbound import Address, Policy, canonical, normal_host, parse_address, resolve

ALLOW_ENV = "CHAINLAKE_EGRESS_ALLOW"  # comma-separated host:port the operator allows


def load_policy(conn: psycopg.Connection[Any]) -> Policy:
    """The policy in force: core.egress_policy() (ranges, allow-list, platform addresses) and
    the services this process knows as the platform's own."""
    rows = [(r["rule"], r["host"], r["port"], r["note"]) for r in egress_policy(conn)]
    return Policy.from_rows([*rows, *own_services(conn)])


def own_services(conn: psycopg.Connection[Any]) -> list[tuple[str, str, int, str]]:
    """The Postgres this connection reaches over TCP, and the object store at
    $AWS_ENDPOINT_URL: platform addresses whoever registered them or not."""
    found = []
    if conn.info.host and not conn.info.host.startswith("/"):
        found.append(("platform", conn.info.host, int(conn.info.port), "Postgres"))
    endpoint = urlsplit(os.environ.get("AWS_ENDPOINT_URL", ""))
    if endpoint.hostname:
        port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
        found.append(("platform", endpoint.hostname, port, "object store"))
    return found


def check_channel_names(
    conn: psycopg.Connection[Any], name: str, kind: str, target: str, config: dict[str, Any]
) -> None:
    """Refuse a channel whose host names resolve to an address the rule refuses (InvalidInput
    naming the field). `conn` acts as the caller (API or CLI)."""
    rows = call(
        conn,
        "SELECT field, host, port FROM alerts.channel_destinations(%(kind)s, %(target)s, "
        "%(config)s) WHERE problem IS NULL AND core.literal_address(host) IS NULL",
        {"kind": kind, "target": target, "config": json.dumps(config)},
    )
    for row in rows:
        host, port = str(row["host"]), int(row["port"])
        for ip in resolve(host, port):
            refused = call(
                conn,
                "SELECT core.egress_refusal(%(ip)s, %(port)s) AS why",
                {"ip": str(ip), "port": port},
            )
            why = refused[0]["why"] if refused else None
            if why:
                said = str(why).removeprefix(f"{canonical(ip)} is ")
                raise InvalidInput(
                    f'channel "{name}": {row["field"]}: refused: {host} resolves to '
                    f"{canonical(ip)}, {said}",
                    "a channel reaches public addresses only (docs/alerts.md)",
                )


def configured_allow_list() -> list[str]:
    """$CHAINLAKE_EGRESS_ALLOW: each entry must be host:port."""
    entries = [e.strip() for e in os.environ.get(ALLOW_ENV, "").split(",") if e.strip()]
    wrong = [e for e in entries if parse_address(e) is None]
    if wrong:
        raise InvalidInput(
            f"{ALLOW_ENV}: {wrong[0]!r} is not host:port (e.g. 127.0.0.1:2525, [::1]:25)"
        )
    return entries


def address_of(url: str) -> str | None:
    """host:port of a URL (its scheme's default port unless given), or None."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    default = {"https": 443, "wss": 443, "postgresql": 5432, "postgres": 5432}.get(parts.scheme, 80)
    return str(Address(normal_host(parts.hostname), parts.port or default))


def register(conn: psycopg.Connection[Any], rule: str, source: str, addresses: list[str]) -> None:
    """As the operator: exactly `addresses` under rule ('allowed' | 'platform') for `source`
    (what registered them, e.g. "chainlake up")."""
    call(
        conn,
        "SELECT core.set_egress_addresses(%(rule)s, %(source)s, %(addresses)s)",
        {"rule": rule, "source": source, "addresses": addresses},
    )
