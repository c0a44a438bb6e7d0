"""Real servers on 127.0.0.1 that alerts are delivered to in tests: an HTTP receiver (webhooks,
Slack-compatible incoming webhooks, a Twilio-compatible Messages API), failing on request, an
SMTP server (aiosmtpd), and plain TCP servers that answer one fixed reply or never answer.
Loopback is refused to outbound calls unless the operator allows the exact host:port: each
server's `address` is what a test allows (`SELECT core.allow_egress(address)`)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from chainlake.local.localpg import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class Receiver:
    """Records every POST; answers 500 to the first `fail_first` of each path (or all, with
    `fail_always` paths), 201 with a JSON body otherwise."""

    fail_first: dict[str, int] = field(default_factory=dict)
    fail_always: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    url: str = ""

    def posts(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")


@contextmanager
def http_receiver(receiver: Receiver) -> Iterator[Receiver]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                remaining = receiver.fail_first.get(self.path, 0)
                fail = self.path in receiver.fail_always or remaining > 0
                if remaining > 0:
                    receiver.fail_first[self.path] = remaining - 1
                if fail:
                    receiver.failed.append(self.path)
                else:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
            self.send_response(500 if fail else 201)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": "down"}' if fail else b'{"sid": "SM1"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    messages: list[Any] = field(default_factory=list)
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Tally:
    """A TCP server on 127.0.0.1: its port, how many connections it accepted, and the most it
    held open at once."""

    port: int = 0
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def opened(self) -> None:
        with self.lock:
            self.connections += 1
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)

    def closed(self) -> None:
        with self.lock:
            self.open_now -= 1


@contextmanager
def tcp_server(answer: bytes | None) -> Iterator[Tally]:
    """Accepts every connection and reads the request; answers `answer` and closes, or with
    None never answers (a black hole: the connection stays open until the client gives up or
    the server stops). One thread selects over the listener and every connection and handles
    the closes it sees before the new connections: a client that closes and then connects
    again is never counted as two connections open at once."""
    tally = Tally()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    tally.port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            while not stop.is_set():
                ready = [key.fileobj for key, _ in selector.select(timeout=0.2)]
                for conn in ready:
                    if conn is not listener and isinstance(conn, socket.socket):
                        _read(selector, conn)
                if listener in ready:
                    with contextlib.suppress(BlockingIOError):
                        conn, _ = listener.accept()
                        tally.opened()
                        selector.register(conn, selectors.EVENT_READ, bytearray())
            for key in list(selector.get_map().values()):
                if key.fileobj is not listener and isinstance(key.fileobj, socket.socket):
                    key.fileobj.close()

    def _read(selector: selectors.BaseSelector, conn: socket.socket) -> None:
        received: bytearray = selector.get_key(conn).data
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        received += data
        if data and (answer is None or b"\r\n\r\n" not in received):
            return
        if data and answer is not None:
            with contextlib.suppress(OSError):
                conn.setblocking(True)
                conn.sendall(answer)
        selector.unregister(conn)
        conn.close()
        tally.closed()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield tally
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def http_answer(status: str, body: bytes, *headers: str) -> bytes:
    """A whole HTTP/1.0 answer."""
    head = "".join(f"{h}\r\n" for h in (f"HTTP/1.0 {status}", *headers))
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
