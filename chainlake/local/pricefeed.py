"""A price feed server for the devchain and the tests, speaking CoinGecko's simple/token_price
format on 127.0.0.1:

    GET /api/v3/simple/token_price/{platform}?contract_addresses=0xA,0xB&vs_currencies=usd
    -> {"0xa": {"usd": 1.02}, "0xb": {"usd": 0.98}}

Each token's price is a deterministic random walk around 1.00 that moves every second."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def price_of(token: str, at: float | None = None) -> float:
    second = int(at if at is not None else time.time())
    seed = int(hashlib.sha256(token.lower().encode()).hexdigest()[:8], 16)
    return round(1.0 + 0.05 * math.sin(second / 60 + seed) + 0.01 * math.sin(second / 7), 6)


class PriceFeed:
    def __init__(self, port: int = 0) -> None:
        feed = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                feed.requests += 1
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if not url.path.startswith("/api/v3/simple/token_price/"):
                    self._send(404, {"error": "not found"})
                    return
                if query.get("vs_currencies", ["usd"])[0] != "usd":
                    self._send(400, {"error": "only usd"})
                    return
                tokens = [t for t in query.get("contract_addresses", [""])[0].split(",") if t]
                self._send(200, {t.lower(): {"usd": price_of(t)} for t in tokens})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, platform: str = "devchain") -> str:
        return (
            f"http://127.0.0.1:{self.port}/api/v3/simple/token_price/{platform}"
            "?contract_addresses={addresses}&vs_currencies=usd"
        )

    def start(self) -> PriceFeed:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
