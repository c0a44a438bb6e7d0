"""Alert delivery: take tasks from the `alert_deliveries` queue (alerts.take_deliveries), send
each over its channel, record the attempt (alerts.record_attempt: delivered, retried with
backoff, or dead after the last attempt). Runs as the system org's alert-delivery job with the
chainlake_alerts role, which can do nothing else.

Every 15 s it also evaluates the system alert rules (alerts.evaluate_platform: failure rates,
ingest lag, queue age, dead deliveries), whose firings are delivered the same way.

Channels:
- webhook: POST the alert as JSON, signed like every chainlake webhook: X-Chainlake-Timestamp
  and X-Chainlake-Signature (`sha256=` HMAC-SHA256 of `timestamp.body` with the channel secret);
- email: SMTP to `target` (config: host, port, from; secret: the SMTP password, user in config);
- sms: a Twilio-compatible Messages API (config: base_url, account_sid, from; secret: the auth
  token; `target` is the phone number);
- slack: a Slack-compatible incoming webhook (`target` is its URL).
"""

from __future__ import annotations

import base64
import json
import smtplib
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import psycopg
from psycopg.rows import dict_row

from chainlake.secrets import decrypt, signature

SEND_TIMEOUT_S = 5.0
LEASE_SECONDS = 30
RETRY_SECONDS = (1, 2, 5, 15, 60)  # after attempt 1, 2, ...; the last repeats


class DeliveryFailed(Exception):
    """The channel did not take the alert; the message says why (kept as last_error)."""


@dataclass
class Alert:
    """One task: a firing or its retraction, for one channel."""

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
        head = "RETRACTED (a reorg removed its block): " if self.event == "retracted" else ""
        blocks = (
            f"block {t['to_block']}"
            if t["from_block"] == t["to_block"]
            else f"blocks {t['from_block']}..{t['to_block']}"
        )
        return (
            f"{head}[{t['severity']}] {t['org']}/{t['rule']} on chain {t['chain_id']} "
            f"{blocks}: {t['match_key']}"
        )


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise DeliveryFailed(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_S) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"{url} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"{url} unreachable: {exc}") from exc


def send_webhook(alert: Alert, target: str, config: dict[str, Any], secret: str | None) -> None:
    body = json.dumps(alert.payload(), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Chainlake-Timestamp": timestamp}
    if secret:
        headers["X-Chainlake-Signature"] = signature(secret, timestamp, body)
    _post(target, body, headers)


def send_slack(alert: Alert, target: str, config: dict[str, Any], secret: str | None) -> None:
    body = json.dumps({"text": alert.text()}).encode()
    _post(target, body, {"Content-Type": "application/json"})


def send_sms(alert: Alert, target: str, config: dict[str, Any], secret: str | None) -> None:
    for key in ("base_url", "account_sid", "from"):
        if not config.get(key):
            raise DeliveryFailed(f"the sms channel's config lacks {key}")
    sid = config["account_sid"]
    url = f"{config['base_url'].rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
    form = urllib.parse.urlencode({"To": target, "From": config["from"], "Body": alert.text()})
    auth = base64.b64encode(f"{sid}:{secret or ''}".encode()).decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": f"Basic {auth}",
    }
    _post(url, form.encode(), headers)


def send_email(alert: Alert, target: str, config: dict[str, Any], secret: str | None) -> None:
    message = EmailMessage()
    message["From"] = config.get("from", "alerts@chainlake.invalid")
    message["To"] = target
    message["Subject"] = alert.text()[:200]
    message.set_content(json.dumps(alert.payload(), indent=2, sort_keys=True))
    try:
        with smtplib.SMTP(
            config.get("host", "127.0.0.1"), int(config.get("port", 25)), timeout=SEND_TIMEOUT_S
        ) as smtp:
            if config.get("starttls"):
                smtp.starttls()
            if config.get("user"):
                smtp.login(config["user"], secret or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP {config.get('host')}:{config.get('port')}: {exc}") from exc


SENDERS: dict[str, Callable[[Alert, str, dict[str, Any], str | None], None]] = {
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
        log: Callable[[str], None] = print,
    ) -> None:
        self.database_url = database_url
        self.secret_key = secret_key
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.log = log

    def deliver_once(self, conn: psycopg.Connection[Any], limit: int = 50) -> int:
        """Every task visible now, once: how many were taken."""
        with conn.cursor(row_factory=dict_row) as cur:
            tasks = cur.execute(
                "SELECT * FROM alerts.take_deliveries(%s, %s)", (limit, LEASE_SECONDS)
            ).fetchall()
        for task in tasks:
            error = self._send(task)
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
        return len(tasks)

    def _send(self, task: dict[str, Any]) -> str | None:
        """None when delivered, else why not. Whatever one org's channel holds (a config that
        is no number, a secret that is no ciphertext), it fails that delivery only: the loop
        serves every org."""
        if task["kind"] is None:
            return f'channel "{task["channel"]}" no longer exists'
        try:
            secret = (
                decrypt(self.secret_key, bytes(task["secret_enc"])) if task["secret_enc"] else None
            )
            SENDERS[task["kind"]](Alert(task), task["target"], task["config"] or {}, secret)
        except DeliveryFailed as exc:
            return str(exc)
        except Exception as exc:  # the channel's own data broke the sender
            return f'channel "{task["channel"]}" cannot be used: {type(exc).__name__}'
        return None

    def run(
        self, stop: threading.Event, poll_seconds: float = 1.0, system_every_s: float = 15.0
    ) -> None:
        """Deliver until `stop`; every `system_every_s`, evaluate the system alert rules."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute("LISTEN alert_deliveries")
            next_system = 0.0
            while not stop.is_set():
                if time.monotonic() >= next_system:
                    conn.execute("SELECT alerts.evaluate_platform()")
                    next_system = time.monotonic() + system_every_s
                while self.deliver_once(conn):
                    if stop.is_set():
                        return
                for _ in conn.notifies(timeout=poll_seconds, stop_after=1):
                    pass
