"""The guarded outbound client: every call the platform makes on a tenant's behalf goes through
here (alert webhooks, Slack, the SMS provider, SMTP, a service job's endpoint, a job's egress
through its run's proxy). SECURITY.md item 24; docs/alerts.md and docs/job-contract.md say what
a tenant may target.

- The host is resolved once and every address it has must pass the policy (`Policy.refusal`):
  the platform's own services never; an exact host:port the operator allows; else no loopback,
  private, link-local, metadata, multicast, unspecified or reserved address.
- The connection goes to the address that was checked (no second lookup: no DNS rebinding).
- No redirect is followed (a 3xx is a failure); time (connect, the whole exchange) and the size
  read are bounded.
- Failures say only "refused: <reason>", "HTTP <status>", "timed out" or "could not connect":
  never a reply's body, never a connect error that tells one closed port from another.

The rule's data (ranges, the operator's allow-list, the platform's addresses) comes from
Postgres (core.egress_policy(), chainlake/egress.py), which checks the same rule when a channel
or a job definition is saved. This module needs no database.
"""

from __future__ import annotations

import http.client
import ipaddress
import selectors
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
THIS_MACHINE = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"})  # noqa: S104


class Refused(Exception):
    """The destination may not be reached on a tenant's behalf; nothing was sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused: {reason}")
        self.reason = reason


class Failed(Exception):
    """The destination was allowed but the call failed: "HTTP 500", "timed out", "could not
    connect" (never what the destination said)."""


class Address(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def canonical(ip: IPAddress) -> str:
    """An address as Postgres writes it (IPv4-mapped and -compatible IPv6 addresses end in
    dotted form), so that the rule says the same words at save and at use."""
    if ip.version == 6:
        words = [(int(ip) >> (16 * (7 - i))) & 0xFFFF for i in range(8)]
        if words[:5] == [0] * 5 and (words[5] == 0xFFFF or (words[5] == 0 and words[6] != 0)):
            tail = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            return f"::ffff:{tail}" if words[5] == 0xFFFF else f"::{tail}"
    return str(ip)


def normal_host(host: str) -> str:
    """Lower case, no brackets or final dot, an address in its canonical form."""
    bare = host.lower().strip("[]").rstrip(".")
    try:
        return canonical(ipaddress.ip_address(bare))
    except ValueError:
        return bare


def parse_address(text: str) -> Address | None:
    """'host:port' or '[v6 address]:port', or None when it is neither."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not host or (":" in host and not host.startswith("[")):
        return None
    return Address(normal_host(host), int(port))


@lru_cache(maxsize=1024)
def is_this_machine(ip: IPAddress) -> bool:
    """Loopback, unspecified, or an address of one of this machine's interfaces."""
    if ip.is_loopback or ip.is_unspecified:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError:
            return False
    return True


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (itself when it is one); empty when it resolves to
    nothing."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(str(f[4][0]).split("%")[0]) for f in found))


@dataclass(frozen=True)
class Policy:
    """Where outbound calls may go, and the bounds of each call."""

    ranges: tuple[tuple[IPNetwork, str], ...]  # refused, most specific first, with the reason
    allowed: frozenset[Address] = frozenset()  # the operator's exact host:port exceptions
    platform: frozenset[Address] = frozenset()  # the platform's own services: never
    connect_timeout: float = 3.0
    timeout: float = 5.0  # a whole exchange
    max_bytes: int = 1 << 16  # of a reply that is read (and dropped)
    platform_ips: frozenset[tuple[IPAddress, int]] = field(default=frozenset(), compare=False)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, int | None, str]]) -> Policy:
        """From core.egress_policy()'s rows (rule, host, port, note): 'refused' ranges,
        'allowed' and 'platform' host:port. Platform names are resolved here, once."""
        ranges: list[tuple[IPNetwork, str]] = []
        allowed: set[Address] = set()
        platform: set[Address] = set()
        for rule, host, port, note in rows:
            if rule == "refused":
                ranges.append((ipaddress.ip_network(host), note))
            elif port is not None:
                (allowed if rule == "allowed" else platform).add(Address(normal_host(host), port))
        ranges.sort(key=lambda r: -r[0].prefixlen)
        ips = frozenset(
            (ip, p.port)
            for p in platform
            if p.host not in THIS_MACHINE
            for ip in resolve(p.host, p.port)
        )
        return cls(tuple(ranges), frozenset(allowed), frozenset(platform), platform_ips=ips)

    def is_platform(self, host: str, ip: IPAddress, port: int) -> bool:
        """One of the platform's own services: by name, by address, or at a port of this
        machine where one of them listens."""
        return (
            Address(host, port) in self.platform
            or Address(canonical(ip), port) in self.platform
            or (ip, port) in self.platform_ips
            or any(
                p.port == port and p.host in THIS_MACHINE and is_this_machine(ip)
                for p in self.platform
            )
        )

    def refusal(self, host: str, ip: IPAddress, port: int) -> str | None:
        """Why `host` (at address `ip`) may not be reached at `port`, or None."""
        host = normal_host(host)
        if self.is_platform(host, ip, port):
            return f"{Address(host, port)} is one of the platform's own services"
        shown = canonical(ip)
        if Address(host, port) in self.allowed or Address(shown, port) in self.allowed:
            return None
        reason = next((why for net, why in self.ranges if ip in net), None)
        if reason is None:
            return None
        return f"{host} is {reason}" if host == shown else f"{host} resolves to {shown}, {reason}"

    def check(self, host: str, port: int) -> IPAddress:
        """The address to connect to: `host` resolved once, every address checked."""
        host = normal_host(host)
        if not 0 < port < 65536:
            raise Refused(f"port {port} is not a port (1 to 65535)")
        found = resolve(host, port)
        if not found:
            raise Failed(f"{host} does not resolve")
        for ip in found:
            why = self.refusal(host, ip, port)
            if why is not None:
                raise Refused(why)
        return found[0]


def connect(policy: Policy, host: str, port: int) -> socket.socket:
    """A TCP connection to host:port at the address checked."""
    ip = policy.check(host, port)
    try:
        return socket.create_connection((str(ip), port), timeout=policy.connect_timeout)
    except TimeoutError as exc:
        raise Failed("timed out") from exc
    except OSError as exc:
        raise Failed("could not connect") from exc


class _Deadline:
    """Ends a socket's exchange at the deadline, however slowly the other side drips."""

    def __init__(self, seconds: float) -> None:
        self.expired = threading.Event()
        self.sock: socket.socket | None = None
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def _expire(self) -> None:
        self.expired.set()
        if self.sock is not None:
            with suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def watch(self, sock: socket.socket) -> socket.socket:
        self.sock = sock
        return sock


def _url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or Refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused("not an http:// or https:// URL")
    if "@" in parts.netloc:
        raise Refused('a URL here may not hold a user name or password (before "@")')
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Refused("the URL's port is not a port (1 to 65535)") from exc
    if not parts.hostname:
        raise Refused("no host in the URL")
    path = parts.path or "/"
    return parts.scheme, parts.hostname, port, path + (f"?{parts.query}" if parts.query else "")


@contextmanager
def request(
    policy: Policy,
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float | None = None,
) -> Iterator[http.client.HTTPResponse]:
    """One HTTP exchange with the guard's rules; the response (its status and headers read) to
    consume within `timeout` (default policy.timeout) from the start. Refused, or Failed."""
    scheme, host, port, path = _url(url)
    ip = policy.check(host, port)
    deadline = _Deadline(policy.timeout if timeout is None else timeout)
    kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    conn = kind(host, port, timeout=policy.connect_timeout)

    def pinned(
        _address: tuple[str, int], timeout: float | None = None, source: object = None
    ) -> socket.socket:  # the address checked, never a second lookup of the name
        return deadline.watch(socket.create_connection((str(ip), port), timeout))

    conn._create_connection = pinned  # type: ignore[attr-defined]
    deadline.timer.start()
    try:
        try:
            conn.request(method, path, body, headers)
            if conn.sock is not None:
                conn.sock.settimeout(policy.timeout if timeout is None else timeout)
            response = conn.getresponse()
        except (TimeoutError, ssl.SSLError, OSError, http.client.HTTPException) as exc:
            raise _failure(exc, deadline) from exc
        try:
            yield response
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            raise _failure(exc, deadline) from exc
    finally:
        deadline.timer.cancel()
        conn.close()


def _failure(exc: BaseException, deadline: _Deadline) -> Failed:
    if deadline.expired.is_set() or isinstance(exc, TimeoutError):
        return Failed("timed out")
    if isinstance(exc, ssl.SSLError):
        return Failed("the TLS handshake failed")
    return Failed("could not connect")


def post(policy: Policy, url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST `body`: the 2xx status, else Failed ("HTTP 500"); the reply is read up to
    policy.max_bytes and dropped."""
    with request(policy, "POST", url, body, headers) as response:
        response.read(policy.max_bytes)
        status = response.status
    if 300 <= status < 400:
        raise Failed(f"HTTP {status} (redirects are not followed)")
    if not 200 <= status < 300:
        raise Failed(f"HTTP {status}")
    return status


class _GuardedSMTP(smtplib.SMTP):
    """smtplib's client, connecting through the guard (its STARTTLS checks the host's name)."""

    def __init__(self, policy: Policy, deadline: _Deadline) -> None:
        self.policy, self.deadline = policy, deadline
        super().__init__(timeout=policy.timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = self.deadline.watch(connect(self.policy, host, port))
        sock.settimeout(timeout)
        return sock


def send_mail(
    policy: Policy,
    host: str,
    port: int,
    message: EmailMessage,
    starttls: bool = False,
    login: tuple[str, str] | None = None,
) -> None:
    """Send `message` through the SMTP server host:port. Refused, or Failed ("SMTP 550",
    "timed out", "could not connect")."""
    deadline = _Deadline(policy.timeout)
    deadline.timer.start()
    try:
        with _GuardedSMTP(policy, deadline) as smtp:
            smtp.connect(host, port)
            if starttls:
                smtp.starttls()
            if login is not None:
                smtp.login(*login)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise Failed(f"SMTP {exc.smtp_code}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise Failed("SMTP refused the recipient") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise _failure(exc, deadline) from exc
    finally:
        deadline.timer.cancel()


def relay(a: socket.socket, b: socket.socket, stop: Callable[[], bool] = lambda: False) -> None:
    """Copy bytes both ways until both sides are done (a half-closed side passes its end on)
    or `stop()`; then close both."""
    open_ends = {a: b, b: a}
    with selectors.DefaultSelector() as sel:
        for sock in open_ends:
            sel.register(sock, selectors.EVENT_READ)
        try:
            while open_ends and not stop():
                for key, _ in sel.select(timeout=0.5):
                    source = key.fileobj
                    assert isinstance(source, socket.socket)
                    try:
                        data = source.recv(65536)
                    except OSError:
                        data = b""
                    sink = open_ends[source]
                    if data:
                        try:
                            sink.sendall(data)
                            continue
                        except OSError:
                            return
                    sel.unregister(source)
                    del open_ends[source]
                    try:
                        sink.shutdown(socket.SHUT_WR)
                    except OSError:
                        return
        finally:
            a.close()
            b.close()
