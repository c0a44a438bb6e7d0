"""The devchain's traffic survives reorgs: orphaned transactions leave nonce gaps the node would
wait on forever, so the generator notices, drops the pending pool, resyncs and says so."""

from __future__ import annotations

from chainlake.chain.rpc import RpcClient
from chainlake.local.devchain import TRANSFER_TOPIC, Anvil, Traffic, deploy_token
from chainlake.local.localpg import free_port
from tests.chainkit import wait_until


def head(rpc: RpcClient) -> int:
    return int(rpc.call("eth_blockNumber"), 16)


def transfer_blocks(rpc: RpcClient, token: str, first: int, last: int) -> set[int]:
    """The blocks first..last holding at least one ERC-20 Transfer of the token."""
    logs = rpc.call(
        "eth_getLogs",
        [
            {
                "fromBlock": hex(first),
                "toBlock": hex(last),
                "address": token,
                "topics": [TRANSFER_TOPIC],
            }
        ],
    )
    return {int(log["blockNumber"], 16) for log in logs}


def test_traffic_flows_in_every_block_after_five_reorgs() -> None:
    lines: list[str] = []
    with Anvil(free_port()) as anvil:
        rpc = RpcClient([anvil.url])
        token = deploy_token(rpc)
        traffic = Traffic(rpc, token, rate=20, log=lines.append).start()
        try:
            wait_until(lambda: traffic.mined.total > 40, 30, "traffic mined before the reorgs")
            start = head(rpc)
            assert len(transfer_blocks(rpc, token, start - 5, start)) >= 4, "transfers flowed"
            for depth in (3, 2, 4, 1, 3):
                before = head(rpc)
                rpc.call("anvil_reorg", [depth, []])  # the orphaned blocks' transactions vanish
                wait_until(lambda b=before: head(rpc) >= b + 3, 20, "blocks after the reorg")
            wait_until(lambda: traffic.resyncs >= 1, 20, "the traffic noticed the reorgs")
            # once resynced, every block carries transfers again
            wait_until(
                lambda: transfer_blocks(rpc, token, head(rpc), head(rpc)) != set(),
                20,
                "transfers mined again",
            )
            first = head(rpc) + 1
            wait_until(lambda: head(rpc) >= first + 9, 30, "ten more blocks")
            mined = transfer_blocks(rpc, token, first, first + 9)
            assert mined == set(range(first, first + 10)), (
                f"blocks without transfers after the reorgs: "
                f"{sorted(set(range(first, first + 10)) - mined)}"
            )
        finally:
            traffic.stop()
    assert any("resynced" in line and "reorg" in line for line in lines), lines
    assert traffic.stats()["mined_per_second"] > 5


def test_a_stuck_pool_is_noticed_without_a_reorg() -> None:
    """Transactions behind a nonce gap (sent by someone else's mistake, or a node that lost
    its pool) are never mined; the traffic drops them and starts again."""
    lines: list[str] = []
    with Anvil(free_port()) as anvil:
        rpc = RpcClient([anvil.url])
        token = deploy_token(rpc)
        traffic = Traffic(rpc, token, rate=20, log=lines.append).start()
        try:
            wait_until(lambda: traffic.mined.total > 20, 30, "traffic")
            # open a gap: every account's next nonce skips ahead by 5
            traffic.nonces = {a: n + 5 for a, n in traffic.nonces.items()}
            wait_until(lambda: traffic.resyncs >= 1, 20, "the stall noticed")
            mark = traffic.mined.total
            wait_until(lambda: traffic.mined.total > mark + 20, 20, "traffic mined again")
        finally:
            traffic.stop()
    assert any("not mined" in line for line in lines), lines
