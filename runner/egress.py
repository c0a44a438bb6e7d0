"""A run's egress (docs/job-contract.md, "Network"). A tenant's job that declares `network:
[host:port, ...]` runs in a network namespace of its own (the process launcher enters it with
nsenter, the container launcher with podman's `--network ns:`), created by a forwarder
(runner/forward.py) that listens there on 127.0.0.1:3128 and is the only way out: it relays
each connection to this run's egress proxy, a unix socket of the runner.

The proxy (`Gate`) takes HTTP CONNECT (HTTPS, WebSocket, any TCP; the SDK's `connect`) and
plain http:// proxy requests; it lets through exactly the declared host:port destinations, and
only as the guarded client allows (chainlake/outbound.py: never the platform's own services, no
loopback, private or metadata address unless the operator allows that host:port), connecting to
the address it checked. Every refusal is answered 403 and logged on the run:
"egress refused: 127.0.0.1:5432 (not in network)".

The platform's own jobs (holding a platform credential) keep the host's network: they reach
the chain node, Postgres and the object store.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from chainlake import outbound
from chainlake.outbound import Address, Policy, normal_host, parse_address, relay

PROXY_PORT = 3128  # in the job's namespace: http://127.0.0.1:3128
HEAD_LIMIT = 16 * 1024
HEAD_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64  # at once, per run
MAX_REFUSALS_LOGGED = 100
READY_TIMEOUT_S = 10.0
ROOT = Path(__file__).resolve().parent.parent


class EgressError(Exception):
    """The run's egress could not be set up (its run fails with this, fail closed)."""


def declared(spec: dict[str, Any]) -> frozenset[Address]:
    """The host:port destinations a definition declares (anything else in `network` matches
    nothing: Postgres refuses it when the definition is saved)."""
    items = spec.get("network") or []
    return frozenset(a for a in (parse_address(str(i)) for i in items) if a is not None)


def proxy_env(url: str) -> dict[str, str]:
    """What points a job's HTTP clients at its egress proxy."""
    return {
        "CHAINLAKE_EGRESS_PROXY": url,
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "http_proxy": url,
        "https_proxy": url,
        "NO_PROXY": "",
        "no_proxy": "",
    }


@dataclass
class Egress:
    """The runner's egress: the policy in force (read from Postgres per run) and a gate per run
    that declares a network."""

    policy: Callable[[], Policy]

    def gate(self, spec: dict[str, Any], emit: Callable[[str], None]) -> Gate:
        return Gate(declared(spec), self.policy(), emit)


class Gate:
    """One run's egress proxy and the forwarder in its network namespace (a context manager)."""

    def __init__(
        self, allowed: frozenset[Address], policy: Policy, emit: Callable[[str], None]
    ) -> None:
        self.allowed, self.policy, self.emit = allowed, policy, emit
        self.closing = threading.Event()
        self.slots = threading.Semaphore(MAX_CONNECTIONS)
        self.refusals = 0
        self.lock = threading.Lock()
        self.clients: set[socket.socket] = set()
        self.folder = Path(tempfile.mkdtemp(prefix="chainlake-egress-"))
        self.socket_path = self.folder / "proxy.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.forwarder: subprocess.Popen[str] | None = None

    # -- what the launchers use ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{PROXY_PORT}"

    def env(self) -> dict[str, str]:
        return proxy_env(self.url)

    @property
    def netns(self) -> str:
        """The job's network namespace (podman's `--network ns:<this>`)."""
        assert self.forwarder is not None
        return f"/proc/{self.forwarder.pid}/ns/net"

    def enter(self) -> list[str]:
        """The command prefix that runs a process in the job's network namespace."""
        nsenter = shutil.which("nsenter")
        if nsenter is None:
            raise EgressError("a job with a network needs nsenter (util-linux) on the runner")
        assert self.forwarder is not None
        if os.geteuid() == 0:
            return [nsenter, f"--net={self.netns}", "--"]
        pid = str(self.forwarder.pid)  # its user namespace too, keeping our own ids
        return [nsenter, "--target", pid, "--user", "--net", "--preserve-credentials", "--"]

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Gate:
        try:
            self.folder.chmod(0o711)  # the forwarder may run as nobody
            self.listener.bind(str(self.socket_path))
            self.socket_path.chmod(0o666)
            self.listener.listen(MAX_CONNECTIONS)
            threading.Thread(target=self._accept, daemon=True).start()
            self.forwarder = self._start_forwarder()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.closing.set()
        if self.forwarder is not None:
            self.forwarder.kill()
            self.forwarder.wait(10)
            for stream in (self.forwarder.stdin, self.forwarder.stdout):
                if stream is not None:
                    stream.close()
        self.listener.close()
        with self.lock:
            for client in self.clients:
                client.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _start_forwarder(self) -> subprocess.Popen[str]:
        unshare = shutil.which("unshare")
        if unshare is None:
            raise EgressError("a job with a network needs unshare (util-linux) on the runner")
        root = os.geteuid() == 0
        argv = [
            unshare,
            *([] if root else ["--user", "--map-root-user"]),
            "--net",
            "--",
            sys.executable,
            "-m",
            "runner.forward",
            str(self.socket_path),
            str(PROXY_PORT),
            *(["--drop-privileges"] if root else []),
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        if not ready or proc.stdout.readline().strip() != "ready":
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise EgressError(f"the run's egress forwarder did not start: {err[-500:]}".strip())
        assert proc.stderr is not None
        proc.stderr.close()
        return proc

    # -- the proxy ---------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.slots.acquire(blocking=False):
                self._refuse(client, "(any)", f"more than {MAX_CONNECTIONS} connections at once")
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self.lock:
            self.clients.add(client)
        try:
            client.settimeout(HEAD_TIMEOUT_S)
            head, rest = _read_head(client)
            request = _parse(head)
            if request is None:
                _answer(client, "400 Bad Request", "egress: not a proxy request")
                return
            address, forwarded = request
            if address not in self.allowed:
                self._refuse(client, str(address), "not in network")
                return
            try:
                upstream = outbound.connect(self.policy, address.host, address.port)
            except outbound.Refused as exc:
                self._refuse(client, str(address), exc.reason)
                return
            except outbound.Failed as exc:
                _answer(client, "502 Bad Gateway", f"egress to {address} failed: {exc}")
                return
            if forwarded is None:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            upstream.sendall((forwarded or b"") + rest)
            client.settimeout(None)
            upstream.settimeout(None)
            relay(client, upstream, stop=self.closing.is_set)
        except OSError:
            pass
        finally:
            client.close()
            with self.lock:
                self.clients.discard(client)
            self.slots.release()

    def _refuse(self, client: socket.socket, target: str, why: str) -> None:
        """Answer 403 and log the refusal on the run (the first MAX_REFUSALS_LOGGED)."""
        message = f"egress refused: {target} ({why})"
        client.settimeout(2)
        with self.lock:
            self.refusals += 1
            count = self.refusals
        if count <= MAX_REFUSALS_LOGGED:
            self._log(message)
        elif count == MAX_REFUSALS_LOGGED + 1:
            self._log(f"egress refusals past {MAX_REFUSALS_LOGGED} are not logged")
        with contextlib.suppress(OSError):
            _answer(client, "403 Forbidden", message)
        client.close()

    def _log(self, message: str) -> None:
        self.emit(json.dumps({"type": "log", "level": "warning", "message": message}) + "\n")


def _read_head(client: socket.socket) -> tuple[bytes, bytes]:
    """The request's head (through the blank line) and whatever came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > HEAD_LIMIT:
            raise OSError("the request head is too long")
        chunk = client.recv(4096)
        if not chunk:
            raise OSError("the client left")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _parse(head: bytes) -> tuple[Address, bytes | None] | None:
    """(destination, the head to send it) of a proxy request: None to send for CONNECT, the
    request in origin form for a plain http:// one; None when it is neither."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    method, target, version = parts
    if method == "CONNECT":
        address = parse_address(target)
        return None if address is None else (address, None)
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        return None
    try:
        address = Address(normal_host(url.hostname), url.port or 80)
    except ValueError:
        return None
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    kept = [
        line
        for line in lines[1:]
        if line and line.split(":", 1)[0].strip().lower() not in HOP_BY_HOP
    ]
    forwarded = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
    return address, forwarded.encode("latin-1")


HOP_BY_HOP = {"proxy-connection", "proxy-authorization", "connection", "keep-alive"}


def _answer(client: socket.socket, status: str, message: str) -> None:
    body = message.encode() + b"\n"
    client.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
