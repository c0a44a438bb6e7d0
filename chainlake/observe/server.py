"""A process's metrics and health over HTTP (the runner's; the API serves its own routes):
GET /metrics (Prometheus text), /health/live, /health/ready, /health (an alias of live).
With CHAINLAKE_METRICS_TOKEN set, /metrics asks for `Authorization: Bearer <token>`."""

from __future__ import annotations

import errno
import hmac
import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from chainlake.errors import ChainlakeError
from chainlake.observe.health import Readiness

TOKEN_ENV = "CHAINLAKE_METRICS_TOKEN"  # noqa: S105 - the setting's name


class MetricsPortInUse(ChainlakeError):
    """The metrics port asked for is taken: one line naming it and the setting to change."""


def token_allows(header: str | None) -> bool:
    """Whether a request may read /metrics: always without CHAINLAKE_METRICS_TOKEN, else with
    that bearer token."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        return True
    given = (header or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


class MetricsServer:
    """Bound when made (a port in use fails here, at start), served from a daemon thread."""

    def __init__(
        self,
        registry: CollectorRegistry,
        ready: Callable[[], Readiness],
        host: str = "127.0.0.1",
        port: int = 0,
        setting: str = "--metrics-port",
    ) -> None:
        self.registry, self.ready = registry, ready
        try:
            self.server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise MetricsPortInUse(
                f"the metrics port {host}:{port} is in use",
                f"stop what listens there, or set another port with {setting} (0: a free one)",
            ) from exc
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(owner: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return  # scrapes every few seconds are no news

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                if not token_allows(self.headers.get("Authorization")):
                    self._send(401, b'{"detail": "a bearer token is required"}', "application/json")
                    return
                self._send(200, generate_latest(owner.registry), CONTENT_TYPE_LATEST)
            elif path in ("/health", "/health/live"):
                self._send(200, b'{"status": "ok"}', "application/json")
            elif path == "/health/ready":
                found = owner.ready()
                body = json.dumps(found.body()).encode()
                self._send(200 if found.ready else 503, body, "application/json")
            else:
                self._send(404, b'{"detail": "not found"}', "application/json")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
