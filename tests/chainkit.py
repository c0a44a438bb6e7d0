"""Chain test helpers: a devchain with traffic, live ingest in a thread, and the node's canonical
chain as rows, to compare with what was stored."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from chainlake.chain import archive
from chainlake.chain.fetch import head
from chainlake.chain.ingest import ChainConfig, LiveIngest
from chainlake.chain.rpc import RpcClient


def chain_config(url: str, chain_id: int = 31337, **extra: Any) -> ChainConfig:
    settings: dict[str, Any] = {
        "chain_id": chain_id,
        "name": f"dev{chain_id}",
        "rpc_urls": [url],
        "finality_depth": 32,
        "use_finalized_tag": False,
        "chunk_size": 10,
        "batch_blocks": 20,
    }
    settings.update(extra)
    return ChainConfig(**settings)


@contextmanager
def running_ingest(
    config: ChainConfig, database_url: str, log: Callable[[str], None] = lambda _m: None
) -> Iterator[LiveIngest]:
    """Live ingest in a background thread until the block exits; re-raises its error."""
    ingest = LiveIngest(config, database_url, log=log)
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            ingest.run(stop)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield ingest
    finally:
        stop.set()
        thread.join(20)
        ingest.close()
    if failure:
        raise failure[0]


def wait_until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stored_tip(conn: psycopg.Connection[Any], chain_id: int) -> int:
    row = conn.execute(
        "SELECT coalesce(max(number), -1) FROM chain.blocks WHERE chain_id = %s", (chain_id,)
    ).fetchone()
    return int(row[0]) if row else -1


def node_rows(
    rpc: RpcClient, chain_id: int, first: int, last: int
) -> dict[str, list[tuple[Any, ...]]]:
    """The node's canonical blocks first..last as rows, per table."""
    return archive.rpc_rows(rpc, chain_id, first, last)


def hot_rows(
    conn: psycopg.Connection[Any], chain_id: int, first: int, last: int
) -> dict[str, list[tuple[Any, ...]]]:
    """The stored hot rows of blocks first..last, per table, bytes as bytes."""
    return {
        table: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]
        for table, rows in archive.hot_rows(conn, chain_id, first, last).items()
    }


def node_head(rpc: RpcClient) -> int:
    tip = head(rpc)
    assert tip is not None
    return tip[0]


class Miner:
    """Mines a block every `every` seconds on a node started with --no-mining (the devchain's
    400 ms), until paused: a test can hold the chain still while what was derived catches up,
    then reorganise it."""

    def __init__(self, rpc: RpcClient, every: float = 0.4) -> None:
        self.rpc, self.every = rpc, every
        self.running = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(self.every):
            if self.running.is_set():
                self.rpc.call("evm_mine")

    def __enter__(self) -> Miner:
        self.running.set()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.running.clear()
        time.sleep(self.every)  # a block being mined finishes
        try:
            yield
        finally:
            self.running.set()


class SyntheticChain:
    """A chain of made-up blocks (no transactions) written through chain.commit_batch and
    chain.rewind as the operator: exact block numbers and reorgs for tests of stored logic."""

    def __init__(self, admin: psycopg.Connection[Any], chain_id: int) -> None:
        self.admin, self.chain_id = admin, chain_id
        self.branch: dict[int, str] = {}
        admin.execute(
            "SELECT chain.register_chain(%s, %s, 0, 64, 100)", (chain_id, f"synthetic{chain_id}")
        )

    def block_hash(self, number: int, branch: str) -> bytes:
        return hashlib.sha256(f"{self.chain_id}:{number}:{branch}".encode()).digest()

    def hash(self, number: int) -> bytes:
        """The hash of the stored block `number`."""
        return self.block_hash(number, self.branch[number])

    def _insert(self, first: int, last: int, branch: str) -> None:
        for n in range(first, last + 1):
            self.branch[n] = branch
            parent = self.hash(n - 1) if n > 0 else b"\0" * 32
            self.admin.execute(
                "INSERT INTO chain.blocks (chain_id, number, hash, parent_hash, timestamp) "
                "VALUES (%s, %s, %s, %s, %s)",
                (self.chain_id, n, self.hash(n), parent,
                 datetime.fromtimestamp(1_700_000_000 + n, UTC)),
            )  # fmt: skip

    def extend(self, first: int, last: int, branch: str = "a") -> None:
        with self.admin.transaction():
            self._insert(first, last, branch)
            self.admin.execute(
                "SELECT chain.commit_batch(%s, %s, %s, 0)", (self.chain_id, first, last)
            )

    def reorg(self, fork: int, new_head: int, branch: str) -> None:
        """Blocks above `fork` replaced by a new branch up to `new_head`, in one transaction."""
        new_hashes = [self.block_hash(n, branch) for n in range(fork + 1, new_head + 1)]
        with self.admin.transaction():
            self.admin.execute("SELECT chain.rewind(%s, %s, %s)", (self.chain_id, fork, new_hashes))
            self._insert(fork + 1, new_head, branch)
            self.admin.execute(
                "SELECT chain.commit_batch(%s, %s, %s, 0)", (self.chain_id, fork + 1, new_head)
            )
