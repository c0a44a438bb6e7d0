"""Off-chain ingest: the token_prices job (jobs/demo/token_prices) against a price feed server on
127.0.0.1 speaking CoinGecko's simple/token_price format; a feed that is down or empty fails the
run with a message naming the feed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest

from chainlake.egress import address_of
from chainlake.local.localpg import free_port
from chainlake.local.pricefeed import PriceFeed
from tests.runtime import REPO, apply, request_run, running_runner, wait_for
from tests.tenants import Tenants

JOB = REPO / "jobs" / "demo" / "token_prices" / "job.yaml"
TOKEN = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


@pytest.fixture
def feed(admin: psycopg.Connection[Any]) -> Iterator[PriceFeed]:
    """The feed, at an address the operator allows."""
    server = PriceFeed().start()
    admin.execute("SELECT core.allow_egress(%s)", (address_of(server.url()),))
    try:
        yield server
    finally:
        server.stop()


def applied(tenants: Tenants, feed: PriceFeed, **overrides: Any) -> None:
    """The job, as org a's writer, declaring the feed's address as its network."""
    network = [address_of(feed.url())]
    apply(tenants, tenants.user("a", "writer"), JOB, network=network, **overrides)


def finished(admin: psycopg.Connection[Any], run_id: str) -> dict[str, Any] | None:
    row = admin.execute(
        "SELECT status, error, outputs FROM runs.runs WHERE id = %s AND status IN "
        "('succeeded', 'dead', 'failed')",
        (run_id,),
    ).fetchone()
    return None if row is None else {"status": row[0], "error": row[1], "outputs": row[2]}


def test_prices_are_fetched_from_the_feed_into_a_dataset(
    tenants: Tenants, admin: psycopg.Connection[Any], feed: PriceFeed, tmp_path: Path
) -> None:
    writer = tenants.user("a", "writer")
    applied(tenants, feed, config={"url": feed.url(), "tokens": [TOKEN, "0x" + "ab" * 20]})
    with running_runner(tenants, tmp_path / "storage"):
        run = request_run(tenants, writer, "token_prices")
        result = wait_for(lambda: finished(admin, str(run["id"])), timeout=60)
    assert result["status"] == "succeeded", result["error"]
    (output,) = result["outputs"]
    text = Path(urlparse(output["uris"][0]).path).read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    assert {r["token"] for r in rows} == {TOKEN, "0x" + "ab" * 20}
    assert all(0.9 < r["usd"] < 1.1 and r["fetched_at"].endswith("Z") for r in rows)
    assert feed.requests == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"url": f"http://127.0.0.1:{free_port()}/prices?{{addresses}}", "tokens": [TOKEN]},
            "price feed",
        ),
        ({"url": "FEED", "tokens": []}, "returned no prices"),
        ({"url": "ftp://127.0.0.1/prices", "tokens": [TOKEN]}, "is not an http(s) URL"),
    ],
)
def test_a_feed_that_is_down_empty_or_misconfigured_fails_the_run_clearly(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    feed: PriceFeed,
    tmp_path: Path,
    config: dict[str, Any],
    message: str,
) -> None:
    writer = tenants.user("a", "writer")
    if config["url"] == "FEED":
        config = {**config, "url": feed.url()}
    applied(tenants, feed, config=config, retries={"max_attempts": 1})
    with running_runner(tenants, tmp_path / "storage"):
        run = request_run(tenants, writer, "token_prices")
        result = wait_for(lambda: finished(admin, str(run["id"])), timeout=60)
    assert result["status"] == "dead"
    assert message in result["error"]["message"]
