"""A faulty JSON-RPC proxy in front of a real node, on 127.0.0.1: it answers 429 (with
Retry-After), 5xx, hangs past the client's timeout, or plays a lagging node, as told."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse


@dataclass
class Faults:
    fail_next: int = 0  # answer this many requests with `status`
    status: int = 500
    retry_after: str | None = None
    hang_next: int = 0  # hold this many requests for `hang_seconds`, then drop them
    hang_seconds: float = 2.0
    lag_blocks: int = 0  # play a node this many blocks behind (null above its head)
    lag_every: int = 1  # ... on every n-th request only (1: always)
    requests: int = 0
    calls: int = 0  # JSON-RPC calls forwarded (batch items count one each)
    request_times: list[float] = field(default_factory=list)


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults = Faults()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload, headers = proxy.handle(body)
                if status == 0:
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        f = self.faults
        with self.lock:
            f.requests += 1
            f.request_times.append(time.monotonic())
            if f.fail_next > 0:
                f.fail_next -= 1
                headers = {"Retry-After": f.retry_after} if f.retry_after else {}
                return f.status, b'{"error": "injected"}', headers
            hang = f.hang_next > 0
            if hang:
                f.hang_next -= 1
            lagging = f.lag_blocks > 0 and f.requests % f.lag_every == 0
        if hang:
            time.sleep(f.hang_seconds)
            return 0, b"", {}
        request = json.loads(body)
        items = request if isinstance(request, list) else [request]
        with self.lock:
            f.calls += len(items)
        if lagging:
            items = self._lagged(items)
        answer = self._forward(json.dumps(items).encode())
        if lagging:
            answer = self._hide_above(items, answer)
        if not isinstance(request, list):
            answer = answer[0]
        return 200, json.dumps(answer).encode(), {}

    def _forward(self, body: bytes) -> Any:
        parsed = urlparse(self.upstream)
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)
        try:
            conn.request("POST", parsed.path or "/", body, {"Content-Type": "application/json"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def _node_head(self) -> int:
        answer = self._forward(b'{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber","params":[]}')
        return int(answer["result"], 16)

    def _lagged(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Ask for the lagging head instead of `latest`."""
        lag_head = max(0, self._node_head() - self.faults.lag_blocks)
        self._lag_head = lag_head
        out = []
        for item in items:
            params = list(item.get("params") or [])
            if params and params[0] == "latest":
                params[0] = hex(lag_head)
            out.append({**item, "params": params})
        return out

    def _hide_above(self, items: list[dict[str, Any]], answer: list[Any]) -> list[Any]:
        """Blocks above the lagging head do not exist yet."""
        by_id = {a["id"]: a for a in answer}
        for item in items:
            params = item.get("params") or []
            reply = by_id.get(item["id"])
            if reply is None:
                continue
            if item["method"] == "eth_blockNumber":
                reply["result"] = hex(self._lag_head)
            elif (
                params
                and isinstance(params[0], str)
                and params[0].startswith("0x")
                and len(params[0]) < 20
                and int(params[0], 16) > self._lag_head
            ):
                reply["result"] = None
        return answer
