"""The Python job SDK: a job is a decorated function.

    from chainlake.sdk import Context, job

    @job
    def double(ctx: Context) -> None:
        ctx.log("doubling")
        path = ctx.output_path("numbers_doubled", "part-0.json")
        ...
        ctx.output("numbers_doubled", uris=[path.as_uri()], rows=3)

    if __name__ == "__main__":
        double.main()        # stdin RunRequest -> NDJSON on stdout (process, container)
        # or double.serve(port)  (service transport: POST /run)

A job that declares `network: [host:port, ...]` reaches those destinations through its run's
egress proxy ($CHAINLAKE_EGRESS_PROXY; HTTP_PROXY and HTTPS_PROXY point at it, so urllib and
most HTTP clients use it as they are); `connect(host, port)` opens a plain TCP connection
through it.

The SDK speaks docs/job-contract.md and imports nothing else of the platform: a job needs only
this module (or nothing at all; see jobs/examples/js_sum for a job without an SDK).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

CONTRACT_VERSION = "chainlake.job/v1"
EGRESS_PROXY_ENV = "CHAINLAKE_EGRESS_PROXY"


class RetryableError(Exception):
    """Raise it for a transient failure (a timeout, a throttled provider): the run is retried."""


class PermanentError(Exception):
    """Raise it when retrying cannot help (bad params): the run goes straight to dead letter."""


@dataclass
class Context:
    """What a job sees: the RunRequest, and ways to report logs, progress, metrics and outputs."""

    request: dict[str, Any]
    emit: Callable[[dict[str, Any]], None]
    outputs: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def trace_id(self) -> str | None:
        """The run's W3C trace id (the API request that started it, else a fresh one): on every
        log event this context emits, so one id finds the run's lines in every log."""
        found = self.request.get("trace_id")
        return str(found) if found else None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.request.get("params", {}))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.request.get("config", {}))

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return list(self.request.get("inputs", []))

    def input_paths(self, dataset: str | None = None) -> Iterator[Path]:
        """Local paths of every input URI (file:// only), optionally of one dataset."""
        for item in self.inputs:
            if dataset is None or item["dataset"] == dataset:
                for uri in item.get("uris", []):
                    parsed = urlparse(uri)
                    if parsed.scheme == "file":
                        yield Path(parsed.path)

    def output_path(self, dataset: str, name: str) -> Path:
        """A local path under the run's output prefix (file:// prefixes), created on demand."""
        prefix = urlparse(self.request["output_prefix"])
        if prefix.scheme != "file":
            raise ValueError(f"output_prefix {prefix.geturl()} is not a local directory")
        path = Path(prefix.path) / dataset / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, message: str, level: str = "info") -> None:
        self.emit({"type": "log", "level": level, "message": message, **self._traced()})

    def progress(self, done: float, total: float | None = None) -> None:
        self.emit({"type": "progress", "done": done, "total": total, **self._traced()})

    def metric(self, name: str, value: float, unit: str = "") -> None:
        event = {"type": "metric", "name": name, "value": value, "unit": unit}
        self.emit({**event, **self._traced()})

    def _traced(self) -> dict[str, str]:
        return {"trace_id": self.trace_id} if self.trace_id else {}

    def output(self, dataset: str, uris: list[str], **details: Any) -> None:
        record = {"dataset": dataset, "uris": uris, **details}
        self.outputs.append(record)
        self.emit({"type": "output", **record})


JobFunction = Callable[[Context], None]


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(exc)),
        "retryable": not isinstance(exc, PermanentError),
    }


@dataclass
class Job:
    function: JobFunction

    def execute(self, request: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> int:
        """Run once: stream events through `emit`, end with a result. Returns the exit code."""
        ctx = Context(request, emit)
        try:
            self.function(ctx)
        except Exception as exc:  # every failure becomes a result event, never a lost stack
            emit({"type": "result", "status": "failed", "error": _error(exc)})
            return 1
        emit(
            {
                "type": "result",
                "status": "succeeded",
                "outputs": ctx.outputs,
                "metadata": ctx.metadata,
            }
        )
        return 0

    def main(self, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> None:
        """The stdio transport: read the RunRequest, write NDJSON, exit with the status."""
        source, sink = stdin or sys.stdin, stdout or sys.stdout

        def emit(event: dict[str, Any]) -> None:
            sink.write(json.dumps(event) + "\n")
            sink.flush()

        sys.exit(self.execute(json.loads(source.read()), emit))

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """The service transport: POST /run with a RunRequest answers an NDJSON stream."""
        job = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/run":
                    self.send_error(404, "POST /run")
                    return
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()

                def emit(event: dict[str, Any]) -> None:
                    self.wfile.write((json.dumps(event) + "\n").encode())
                    self.wfile.flush()

                job.execute(request, emit)

            def log_message(self, format: str, *args: Any) -> None:
                return

        ThreadingHTTPServer((host, port), Handler).serve_forever()


def connect(host: str, port: int, timeout: float = 10.0) -> socket.socket:
    """A TCP connection to host:port, one of the job's declared `network` destinations: through
    its run's egress proxy (HTTP CONNECT) when it has one, else directly. A refused destination
    raises ConnectionRefusedError with the proxy's reason."""
    proxy = urlparse(os.environ.get(EGRESS_PROXY_ENV, ""))
    if not proxy.hostname or not proxy.port:
        return socket.create_connection((host, port), timeout=timeout)
    sock = socket.create_connection((proxy.hostname, proxy.port), timeout=timeout)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n") and len(head) < 65536:  # byte by byte: no more
        chunk = sock.recv(1)  # than the proxy's answer, whatever the destination says next
        if not chunk:
            break
        head += chunk
    if head.split(b" ")[1:2] != [b"200"]:
        reason = sock.recv(4096).decode(errors="replace").strip()
        sock.close()
        raise ConnectionRefusedError(reason or head.decode(errors="replace").strip())
    return sock


def credential(variable: str, secret: str) -> str:
    """The value the runner handed this run in environment variable `variable` for the secret
    `secret` the job declares; PermanentError when it is missing (the definition does not
    declare it, or its org may not have it: a platform credential goes to the system org only)."""
    value = os.environ.get(variable)
    if not value:
        raise PermanentError(
            f"{variable} is not set: declare `secrets: [{secret}]`"
            " (a platform credential: run in the system org)"
        )
    return value


def job(function: JobFunction) -> Job:
    """Make `function(ctx)` a job that speaks the chainlake job contract."""
    return Job(function)


__all__ = [
    "CONTRACT_VERSION",
    "Context",
    "Job",
    "PermanentError",
    "RetryableError",
    "connect",
    "credential",
    "job",
]
