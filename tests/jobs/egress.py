"""A test job that reaches what its definition's `network` declares (params): `fetch`, http://
URLs fetched with urllib (which finds the run's egress proxy in HTTP_PROXY); `connect`, host:port
pairs opened with the SDK's `connect` (HTTP CONNECT through the proxy) that are sent
`GET / HTTP/1.0`. What each answered, or why it failed, goes to egress_out/result.json."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from chainlake.sdk import Context, connect, job


def fetch(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - test URLs
            return {"status": response.status, "body": response.read(200).decode()}
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def talk(host: str, port: int) -> dict[str, Any]:
    try:
        with connect(host, port, timeout=10) as sock:
            sock.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        return {
            "status": int(answer.split(b" ")[1]),
            "body": answer.split(b"\r\n\r\n")[-1].decode(),
        }
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


@job
def egress(ctx: Context) -> None:
    result = {
        "fetch": {url: fetch(url) for url in ctx.params.get("fetch", [])},
        "connect": {f"{h}:{p}": talk(h, int(p)) for h, p in ctx.params.get("connect", [])},
    }
    ctx.log(json.dumps(result))
    path = ctx.output_path("egress_out", "result.json")
    path.write_text(json.dumps(result))
    ctx.output("egress_out", uris=[path.as_uri()], rows=1)


if __name__ == "__main__":
    egress.main()
