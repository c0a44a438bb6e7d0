"""Wake the ingest loop when the node has a new head: WebSocket `newHeads` where the node offers
it, else the loop polls on its own interval. Reconnects are bounded and backed off."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from chainlake.chain.ingest import ChainConfig


def ws_url_for(config: ChainConfig) -> str | None:
    if config.ws_url == "":
        return None
    if config.ws_url:
        return config.ws_url
    parsed = urlparse(config.rpc_urls[0])
    scheme = "wss" if parsed.scheme == "https" else "ws"
    return parsed._replace(scheme=scheme).geturl()


class HeadWatcher:
    def __init__(self, config: ChainConfig, log: Callable[[str], None]) -> None:
        self.url = ws_url_for(config)
        self.log = log
        self.live = False  # subscribed right now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="newHeads", daemon=True)

    def start(self) -> None:
        if self.url:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wait(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def _run(self) -> None:
        from websockets.sync.client import connect

        failures = 0
        while not self._stop.is_set():
            try:
                with connect(self.url or "", open_timeout=5, close_timeout=1) as ws:
                    ws.send(
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "id": 1,
                                "method": "eth_subscribe",
                                "params": ["newHeads"],
                            }
                        )
                    )
                    answer = json.loads(ws.recv(timeout=5))
                    if "error" in answer:
                        self.log(f"newHeads not offered ({answer['error']}); polling instead")
                        return
                    self.live = True
                    failures = 0
                    while not self._stop.is_set():
                        try:
                            ws.recv(timeout=1.0)
                        except TimeoutError:
                            continue
                        self._wake.set()
            except Exception as exc:
                failures += 1
                if failures == 1:
                    self.log(f"newHeads subscription lost ({exc}); polling meanwhile")
            self.live = False
            if failures >= 20:
                self.log("newHeads unavailable; polling only")
                return
            self._stop.wait(min(5.0, 0.2 * 2**failures))
        self.live = False
