"""JSON-RPC over HTTP to several endpoints: failover, a requests-per-second limit per endpoint,
backoff on 429, 5xx, timeouts and refused connections. Batches go out as one JSON array.

An endpoint that fails is set aside for a backoff that doubles with each consecutive failure
(or for the 429's Retry-After); calls go to the first endpoint not set aside, so traffic returns
to the preferred one as soon as it recovers. Every call is bounded: `max_attempts` tries in all.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from chainlake.errors import ChainlakeError


class RpcError(ChainlakeError):
    """The node answered with a JSON-RPC error: retrying elsewhere will not help."""


class RpcUnavailable(ChainlakeError):
    """No endpoint answered within the attempts allowed."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass
class Endpoint:
    url: str
    rps: float | None
    failures: int = 0
    down_until: float = 0.0
    next_slot: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    down_since: float | None = None  # time.time() of the first failure in a row
    reason: str = ""  # the last failure's, while failing

    @property
    def address(self) -> str:
        """host:port only: an endpoint's path or query may hold a key."""
        parsed = urlparse(self.url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return f"{parsed.hostname or '?'}:{port}"

    def take(self, cost: int) -> None:
        """Wait for `cost` request slots under the per-second limit."""
        if not self.rps:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_slot)
            self.next_slot = start + cost / self.rps
        if start > now:
            time.sleep(start - now)


class RpcClient:
    def __init__(
        self,
        urls: list[str],
        *,
        rps: float | None = None,
        timeout: float = 10.0,
        max_attempts: int = 8,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
    ) -> None:
        if not urls:
            raise ChainlakeError("no RPC endpoint configured", "set rpc_urls for the chain")
        for url in urls:
            if urlparse(url).scheme not in ("http", "https"):
                raise ChainlakeError(f"RPC endpoint {url!r} is not an http(s) URL")
        self.endpoints = [Endpoint(url, rps) for url in urls]
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._local = threading.local()
        self._ids = 0

    # -- public ----------------------------------------------------------------------------
    def call(self, method: str, params: list[Any] | None = None) -> Any:
        return self.batch([(method, params or [])])[0]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results in the order of `calls`. A JSON-RPC error on any call raises RpcError."""
        if not calls:
            return []
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
                for i, (method, params) in enumerate(calls)
            ]
        ).encode()
        answer = self._send(body, len(calls))
        if not isinstance(answer, list) or len(answer) != len(calls):
            raise RpcError(f"the node answered a batch of {len(calls)} with {answer!r:.200}")
        by_id = {item.get("id"): item for item in answer}
        results = []
        for i, (method, _) in enumerate(calls):
            item = by_id.get(i)
            if item is None:
                raise RpcError(f"the node's batch answer lacks call {i} ({method})")
            if "error" in item:
                raise RpcError(f"{method}: {item['error'].get('message', item['error'])}")
            results.append(item.get("result"))
        return results

    def health(self) -> list[dict[str, Any]]:
        """Each endpoint in order: its address, and while it is failing (its last call failed),
        for how many seconds and why."""
        now = time.time()
        return [
            {
                "address": e.address,
                "down_seconds": None if e.down_since is None else round(now - e.down_since, 3),
                "reason": e.reason or None,
            }
            for e in self.endpoints
        ]

    @property
    def preferred(self) -> str:
        now = time.monotonic()
        for endpoint in self.endpoints:
            if endpoint.down_until <= now:
                return endpoint.url
        return self.endpoints[0].url

    # -- internals ---------------------------------------------------------------------------
    def _send(self, body: bytes, cost: int) -> Any:
        reasons: list[str] = []
        for _ in range(self.max_attempts):
            endpoint = self._pick()
            endpoint.take(cost)
            try:
                answer = self._post(endpoint, body)
            except _Retryable as exc:
                self._set_aside(endpoint, exc.retry_after)
                endpoint.reason = str(exc)[:300]
                reasons.append(f"{endpoint.url}: {exc}")
                continue
            endpoint.failures, endpoint.down_since, endpoint.reason = 0, None, ""
            return answer
        raise RpcUnavailable(
            f"no RPC endpoint answered after {self.max_attempts} attempts",
            "; ".join(reasons[-3:]),
        )

    def _pick(self) -> Endpoint:
        now = time.monotonic()
        for endpoint in self.endpoints:
            if endpoint.down_until <= now:
                return endpoint
        soonest = min(self.endpoints, key=lambda e: e.down_until)
        time.sleep(max(0.0, soonest.down_until - now))
        return soonest

    def _set_aside(self, endpoint: Endpoint, retry_after: float | None) -> None:
        endpoint.failures += 1
        if endpoint.down_since is None:
            endpoint.down_since = time.time()
        delay = min(self.max_backoff, self.backoff * 2 ** (endpoint.failures - 1))
        if retry_after is not None:
            delay = min(max(delay, retry_after), 60.0)
        endpoint.down_until = time.monotonic() + delay
        self._drop_connection(endpoint)

    def _connection(self, endpoint: Endpoint) -> http.client.HTTPConnection:
        pool: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        conn = pool.get(endpoint.url)
        if conn is None:
            parsed = urlparse(endpoint.url)
            cls = (
                http.client.HTTPSConnection
                if parsed.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(parsed.hostname or "127.0.0.1", parsed.port, timeout=self.timeout)
            pool[endpoint.url] = conn
        return conn

    def _drop_connection(self, endpoint: Endpoint) -> None:
        pool: dict[str, http.client.HTTPConnection] = self._local.__dict__.get("pool", {})
        conn = pool.pop(endpoint.url, None)
        if conn is not None:
            conn.close()

    def _post(self, endpoint: Endpoint, body: bytes) -> Any:
        path = urlparse(endpoint.url).path or "/"
        for fresh in (False, True):
            conn = self._connection(endpoint)
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop_connection(endpoint)
                if fresh:
                    raise _Retryable(f"connection lost: {exc}") from exc
            except (TimeoutError, OSError, http.client.HTTPException) as exc:
                self._drop_connection(endpoint)
                raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if response.status == 429:
            retry_after = response.getheader("Retry-After")
            raise _Retryable("429 Too Many Requests", _seconds(retry_after))
        if response.status >= 500:
            raise _Retryable(f"HTTP {response.status}")
        if response.status != 200:
            raise RpcError(f"{endpoint.url} answered HTTP {response.status}: {data[:200]!r}")
        try:
            return json.loads(data)
        except ValueError as exc:
            raise _Retryable(f"not JSON: {data[:80]!r}") from exc


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
