"""The RPC client against anvil behind a faulty proxy of our own: failover across endpoints,
backoff on 429 (honouring Retry-After), 5xx and timeouts, and a requests-per-second limit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chainlake.chain.rpc import RpcClient, RpcError, RpcUnavailable
from chainlake.local.devchain import Anvil
from chainlake.local.localpg import free_port
from tests.faultyproxy import FaultyProxy


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    with Anvil(free_port(), block_time=None) as anvil:
        yield anvil


@pytest.fixture
def proxies(node: Anvil) -> Iterator[tuple[FaultyProxy, FaultyProxy]]:
    with FaultyProxy(node.url) as first, FaultyProxy(node.url) as second:
        yield first, second


def test_a_failing_endpoint_fails_over_to_the_next_and_comes_back(
    proxies: tuple[FaultyProxy, FaultyProxy],
) -> None:
    first, second = proxies
    rpc = RpcClient([first.url, second.url], backoff=0.2)
    first.faults.fail_next, first.faults.status = 3, 503
    assert rpc.call("eth_chainId") == hex(31337)
    assert second.faults.calls == 1, "the call went to the second endpoint"
    assert rpc.preferred == second.url
    time.sleep(0.3)  # the first endpoint's backoff passes
    first.faults.fail_next = 0
    rpc.call("eth_chainId")
    assert first.faults.calls == 1, "traffic returns to the preferred endpoint"


def test_429_is_retried_after_its_retry_after(proxies: tuple[FaultyProxy, FaultyProxy]) -> None:
    first, _ = proxies
    rpc = RpcClient([first.url], backoff=0.01)
    first.faults.fail_next, first.faults.status, first.faults.retry_after = 1, 429, "0.5"
    assert rpc.call("eth_chainId") == hex(31337)
    times = first.faults.request_times
    assert len(times) == 2 and times[1] - times[0] >= 0.45, "waited for Retry-After"


def test_a_hanging_endpoint_times_out_and_fails_over(
    proxies: tuple[FaultyProxy, FaultyProxy],
) -> None:
    first, second = proxies
    rpc = RpcClient([first.url, second.url], timeout=0.3)
    first.faults.hang_next, first.faults.hang_seconds = 1, 2.0
    assert rpc.call("eth_chainId") == hex(31337)
    assert second.faults.calls == 1


def test_every_attempt_failing_gives_a_clear_error_within_bounds(
    proxies: tuple[FaultyProxy, FaultyProxy],
) -> None:
    first, second = proxies
    first.faults.fail_next = second.faults.fail_next = 100
    rpc = RpcClient([first.url, second.url], max_attempts=4, backoff=0.01)
    with pytest.raises(RpcUnavailable, match="after 4 attempts") as caught:
        rpc.call("eth_chainId")
    assert "HTTP 500" in (caught.value.hint or "")
    assert first.faults.requests + second.faults.requests == 4


def test_a_json_rpc_error_is_not_retried(proxies: tuple[FaultyProxy, FaultyProxy]) -> None:
    first, _ = proxies
    rpc = RpcClient([first.url])
    with pytest.raises(RpcError, match="eth_noSuchMethod"):
        rpc.call("eth_noSuchMethod")
    assert first.faults.requests == 1


def test_the_requests_per_second_limit_spaces_calls(
    proxies: tuple[FaultyProxy, FaultyProxy],
) -> None:
    first, _ = proxies
    rpc = RpcClient([first.url], rps=20)
    for _ in range(11):
        rpc.call("eth_chainId")
    times = first.faults.request_times
    assert times[-1] - times[0] >= 10 / 20 * 0.95, "11 calls at 20/s span at least 0.5 s"
    rpc.batch([("eth_chainId", [])] * 10)  # a batch of 10 counts as 10 requests
    rpc.call("eth_chainId")
    assert first.faults.request_times[-1] - first.faults.request_times[-2] >= 0.45


def test_bad_endpoint_urls_are_refused_clearly() -> None:
    from chainlake.errors import ChainlakeError

    with pytest.raises(ChainlakeError, match="not an http"):
        RpcClient(["ws://127.0.0.1:1"])
    with pytest.raises(ChainlakeError, match="no RPC endpoint"):
        RpcClient([])
