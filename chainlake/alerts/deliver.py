"""Alert delivery: take tasks from the `alert_deliveries` queue, send each over its channel,
record the attempt (alerts.record_attempt: delivered, retried with backoff, or dead after the
last attempt). Runs as the system org's alert-delivery job with the chainlake_alerts role, which
can do nothing else.

Fair per org (SECURITY.md item 22): sends run concurrently (SENDERS threads), at most
PER_ORG_SENDERS of one org at a time, each bounded in time; tasks are taken round-robin across
orgs (alerts.take_fair_deliveries), never for an org whose senders are all busy. So one org's
flood towards an endpoint that never answers never delays another org's alert.

Every send goes through the guarded client (chainlake/outbound.py): a channel that points at the
platform's own services, or at a loopback, private or metadata address the operator has not
allowed, is refused at delivery as it was when saved; last_error says only "refused: <why>",
"HTTP <status>", "timed out" or "could not connect", never what the receiver answered.

Every 15 s it also evaluates the system alert rules (alerts.evaluate_platform: failure rates,
ingest lag, queue age, dead deliveries), whose firings are delivered the same way.

Channels:
- webhook: POST the alert as JSON, signed like every chainlake webhook: X-Chainlake-Timestamp,
  X-Chainlake-Delivery (the delivery's id, the same on each retry) and X-Chainlake-Signature
  (`sha256=` HMAC-SHA256 of `timestamp.delivery.body` with the channel secret);
- email: SMTP to `target` (config: host, port, from; secret: the SMTP password, user in config);
- sms: a Twilio-compatible Messages API (config: base_url, account_sid, from; secret: the auth
  token; `target` is the phone number);
- slack: a Slack-compatible incoming webhook (`target` is its URL).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Any

import psycopg
from psycopg.rows import dict_row

from chainlake import outbound
from chainlake.egress import load_policy
from chainlake.secrets import decrypt, signature

# where the long-running loop says what it did, unless its caller passes `log`
say = logging.getLogger("chainlake.alerts.deliver").info

SEND_TIMEOUT_S = 5.0  # a whole send
CONNECT_TIMEOUT_S = 2.0
SENDERS = 16  # concurrent sends, all orgs
PER_ORG_SENDERS = 4  # concurrent sends of one org
LEASE_SECONDS = 30  # longer than any send
POLICY_SECONDS = 5.0  # the egress policy (allow-list, platform addresses) is read this often
RETRY_SECONDS = (1, 2, 5, 15, 60)  # after attempt 1, 2, ...; the last repeats


# how a message of each event but a firing begins
HEADS = {
    "retracted": "RETRACTED (a reorg removed its block): ",
    "cleared": "CLEARED (the condition no longer holds): ",
}


class DeliveryFailed(Exception):
    """The channel did not take the alert; the message says why (kept as last_error)."""


@dataclass
class Alert:
    """One task: a firing, its retraction or its clearing, for one channel."""

    task: dict[str, Any]

    @property
    def event(self) -> str:
        return str(self.task["event"])

    def payload(self) -> dict[str, Any]:
        t = self.task
        return {
            "event": t["event"],
            "org": t["org"],
            "rule": t["rule"],
            "severity": t["severity"],
            "firing_id": str(t["firing_id"]),
            "chain_id": t["chain_id"],
            "from_block": t["from_block"],
            "to_block": t["to_block"],
            "block_hash": "0x" + bytes(t["block_hash"]).hex(),
            "match": t["match_key"],
            "values": t["vals"],
            "fired_at": t["fired_at"].isoformat(),
        }

    def text(self) -> str:
        t = self.task
        head = HEADS.get(self.event, "")
        if t["chain_id"] == 0:  # a system alert (platform.health): no block, a subject
            values = t["vals"] or {}
            return (
                f"{head}[{t['severity']}] {t['org']}/{t['rule']}: {values.get('metric')} "
                f"of {values.get('subject')} = {values.get('value')}"
            )
        blocks = (
            f"block {t['to_block']}"
            if t["from_block"] == t["to_block"]
            else f"blocks {t['from_block']}..{t['to_block']}"
        )
        return (
            f"{head}[{t['severity']}] {t['org']}/{t['rule']} on chain {t['chain_id']} "
            f"{blocks}: {t['match_key']}"
        )


@dataclass
class Channel:
    """Where one task goes: the channel's target, config and decrypted secret, and the egress
    policy every send obeys."""

    target: str
    config: dict[str, Any]
    secret: str | None
    policy: outbound.Policy


def send_webhook(alert: Alert, channel: Channel) -> None:
    body = json.dumps(alert.payload(), sort_keys=True).encode()
    timestamp, delivery = str(int(time.time())), str(alert.task["delivery_id"])
    headers = {
        "Content-Type": "application/json",
        "X-Chainlake-Timestamp": timestamp,
        "X-Chainlake-Delivery": delivery,  # the same on every retry: receivers deduplicate
    }
    if channel.secret:
        headers["X-Chainlake-Signature"] = signature(channel.secret, timestamp, delivery, body)
    outbound.post(channel.policy, channel.target, body, headers)


def send_slack(alert: Alert, channel: Channel) -> None:
    body = json.dumps({"text": alert.text()}).encode()
    outbound.post(channel.policy, channel.target, body, {"Content-Type": "application/json"})


def send_sms(alert: Alert, channel: Channel) -> None:
    config = channel.config
    for key in ("base_url", "account_sid", "from"):
        if not config.get(key):
            raise DeliveryFailed(f"the sms channel's config lacks {key}")
    sid = config["account_sid"]
    url = f"{config['base_url'].rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
    form = urllib.parse.urlencode(
        {"To": channel.target, "From": config["from"], "Body": alert.text()}
    )
    auth = base64.b64encode(f"{sid}:{channel.secret or ''}".encode()).decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": f"Basic {auth}",
    }
    outbound.post(channel.policy, url, form.encode(), headers)


def send_email(alert: Alert, channel: Channel) -> None:
    config = channel.config
    message = EmailMessage()
    message["From"] = config.get("from", "alerts@chainlake.invalid")
    message["To"] = channel.target
    message["Subject"] = alert.text()[:200]
    message.set_content(json.dumps(alert.payload(), indent=2, sort_keys=True))
    try:
        port = int(config.get("port", 25))
    except ValueError as exc:
        raise DeliveryFailed("the email channel's config.port is not a port") from exc
    outbound.send_mail(
        channel.policy,
        str(config.get("host", "127.0.0.1")),
        port,
        message,
        starttls=bool(config.get("starttls")),
        login=(config["user"], channel.secret or "") if config.get("user") else None,
    )


SENDERS_BY_KIND: dict[str, Callable[[Alert, Channel], None]] = {
    "webhook": send_webhook,
    "email": send_email,
    "sms": send_sms,
    "slack": send_slack,
}


class Deliverer:
    """Sends what the queue holds; `run` loops until `stop` is set, woken by NOTIFY."""

    def __init__(
        self,
        database_url: str,
        secret_key: bytes,
        max_attempts: int = 5,
        retry_seconds: tuple[int, ...] = RETRY_SECONDS,
        log: Callable[[str], None] = say,
        senders: int = SENDERS,
        per_org: int = PER_ORG_SENDERS,
    ) -> None:
        self.database_url = database_url
        self.secret_key = secret_key
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.log = log
        self.senders, self.per_org = senders, per_org
        self.pool = ThreadPoolExecutor(senders, thread_name_prefix="alert-sender")
        self.in_flight: dict[Future[str | None], dict[str, Any]] = {}
        self._policy: tuple[float, outbound.Policy] | None = None

    def deliver_once(self, conn: psycopg.Connection[Any], limit: int = 50) -> int:
        """Take what is visible now (up to `limit`, fairly per org), send it, wait for those
        sends and record them: how many were taken."""
        taken = self.take(conn, limit)
        self.record(conn, wait=True)
        return taken

    def take(self, conn: psycopg.Connection[Any], limit: int | None = None) -> int:
        """Start sending up to `limit` tasks (the free senders by default), round-robin across
        orgs, none for an org whose PER_ORG_SENDERS are busy: how many were taken."""
        busy = Counter(str(task["org_id"]) for task in self.in_flight.values())
        free = self.senders - len(self.in_flight)
        want = free if limit is None else min(free, limit)
        if want <= 0:
            return 0
        with conn.cursor(row_factory=dict_row) as cur:
            tasks = cur.execute(
                "SELECT * FROM alerts.take_fair_deliveries(%s, %s, %s, %s)",
                (want, self.per_org, LEASE_SECONDS, json.dumps(busy)),
            ).fetchall()
        policy = self.policy(conn) if tasks else None
        for task in tasks:
            assert policy is not None
            self.in_flight[self.pool.submit(self._send, task, policy)] = task
        return len(tasks)

    def record(self, conn: psycopg.Connection[Any], wait: bool = False) -> int:
        """Record every finished send (with `wait`, every send in flight once it ends)."""
        finished = [f for f in self.in_flight if wait or f.done()]
        for future in finished:
            task = self.in_flight.pop(future)
            error = future.result()
            retry = self.retry_seconds[min(task["attempts"], len(self.retry_seconds) - 1)]
            row = conn.execute(
                "SELECT alerts.record_attempt(%s, %s, %s, %s, %s)",
                (task["msg_id"], task["delivery_id"], error, self.max_attempts, retry),
            ).fetchone()
            state = row[0] if row else "?"
            self.log(
                f"delivery {task['delivery_id']} {task['event']} via {task['channel']}: "
                f"{state}" + (f" ({error})" if error else "")
            )
        return len(finished)

    def policy(self, conn: psycopg.Connection[Any]) -> outbound.Policy:
        """The egress policy, read again every POLICY_SECONDS."""
        if self._policy is None or time.monotonic() - self._policy[0] > POLICY_SECONDS:
            bounded = replace(
                load_policy(conn), connect_timeout=CONNECT_TIMEOUT_S, timeout=SEND_TIMEOUT_S
            )
            self._policy = (time.monotonic(), bounded)
        return self._policy[1]

    def _send(self, task: dict[str, Any], policy: outbound.Policy) -> str | None:
        """None when the channel took the alert, else what last_error keeps. Whatever one org's
        channel holds (a config that is no number, a secret that is no ciphertext), it fails
        that delivery only: the loop serves every org."""
        if task["kind"] is None:
            return f'channel "{task["channel"]}" no longer exists'
        try:
            secret = (
                decrypt(self.secret_key, bytes(task["secret_enc"])) if task["secret_enc"] else None
            )
            channel = Channel(task["target"], task["config"] or {}, secret, policy)
            SENDERS_BY_KIND[task["kind"]](Alert(task), channel)
        except (DeliveryFailed, outbound.Refused, outbound.Failed) as exc:
            return str(exc)
        except Exception as exc:  # the channel's own data broke the sender: this task only
            return f'channel "{task["channel"]}" cannot be used: {type(exc).__name__}'
        return None

    def run(
        self, stop: threading.Event, poll_seconds: float = 1.0, system_every_s: float = 15.0
    ) -> None:
        """Deliver until `stop`; every `system_every_s`, evaluate the system alert rules."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("LISTEN alert_deliveries")
            next_system = 0.0
            try:
                while not stop.is_set():
                    if time.monotonic() >= next_system:
                        conn.execute("SELECT alerts.evaluate_platform()")
                        next_system = time.monotonic() + system_every_s
                    self.record(conn)
                    self.take(conn)
                    wait = 0.05 if self.in_flight else poll_seconds
                    for _ in conn.notifies(timeout=wait, stop_after=1):
                        pass
            finally:
                self.record(conn, wait=True)
