"""Live ingest: follow the head, write each batch of blocks in one transaction, correct reorgs.

The rules themselves (a batch extends the stored chain; a rewind never goes below finality; the
batch event and NOTIFY) are enforced by `chain.commit_batch` and `chain.rewind` in Postgres;
this module fetches, compares hashes and writes rows with COPY. Alert rules are evaluated in the
batch's transaction, each attempt under a time budget (chainlake.alerts.evaluate).

A reorg is declared only when the node's own canonical hash at a stored height differs from the
stored one: a lagging node (no block at that height yet) or an inconsistent answer (a batch whose
blocks do not link) makes the step stop and try again, never rewrite data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from chainlake.alerts.evaluate import Batch, evaluate_batch
from chainlake.chain import fetch
from chainlake.chain.codec import TABLES, BlockData
from chainlake.chain.heads import HeadWatcher
from chainlake.chain.rpc import RpcClient
from chainlake.errors import ChainlakeError
from chainlake.observe.metrics import ALERT_EVALUATION_SECONDS, INGEST_LAG_BLOCKS

# where the long-running loop says what it did, unless its caller passes `log`
say = logging.getLogger("chainlake.chain.ingest").info

Log = Callable[[str], None]
Metric = Callable[[str, float], None]
# chain.commit_batch's refusals that mean "the stored tip moved under us": resume from Postgres.
RESUME_STATES = {
    "CL001",  # the batch is already in cold storage (a backfill archived past us)
    "CL002",  # the block before the batch is gone (a repair dropped hot blocks)
}


class DeepReorg(ChainlakeError):
    """The node's chain forks below finality: ingestion stops instead of rewriting final data."""


class StoredChainGap(ChainlakeError):
    """A reorg reaches a height whose block is missing from storage: repair comes first."""


HEALTH_REPORT_S = 10.0  # how often a failing endpoint is reported again
MAX_CONSECUTIVE_FAILURES = 50  # transient errors in a row before the job gives up (and restarts)


@dataclass
class ChainConfig:
    chain_id: int
    name: str
    rpc_urls: list[str]
    ws_url: str | None = None  # "" turns WebSocket off; None derives it from the first RPC URL
    start_block: int | str = 0  # where history begins (backfill and checks start here); "latest":
    # the head when the chain is first registered
    ingest_from: int | str | None = None  # live ingest's first block when nothing is stored:
    # a number, "latest" (the head), or None (start_block)
    finality_depth: int = 64  # used where the node serves no `finalized` tag
    use_finalized_tag: bool = True
    chunk_size: int = 1000
    batch_blocks: int = 50
    poll_interval: float = 0.02
    rps: float | None = None
    rpc_timeout: float = 10.0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ChainConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ChainlakeError(
                f"unknown chain setting(s): {', '.join(sorted(unknown))}",
                f"known settings: {', '.join(sorted(known))}",
            )
        missing = {"chain_id", "name", "rpc_urls"} - set(raw)
        if missing:
            raise ChainlakeError(f"chain config lacks {', '.join(sorted(missing))}")
        return cls(**raw)

    def rpc(self) -> RpcClient:
        return RpcClient(self.rpc_urls, rps=self.rps, timeout=self.rpc_timeout)


def register(conn: psycopg.Connection[Any], config: ChainConfig, start_block: int) -> None:
    with conn.transaction():
        conn.execute(
            "SELECT chain.register_chain(%s, %s, %s, %s, %s)",
            (config.chain_id, config.name, start_block, config.finality_depth, config.chunk_size),
        )


def copy_blocks(cur: psycopg.Cursor[Any], blocks: list[BlockData]) -> None:
    """COPY the blocks, their transactions and their logs into per-session staging tables, then
    move them into the chain tables (COPY cannot write a table with row-level security)."""
    for table, columns in TABLES.items():
        stage = sql.Identifier(f"stage_{table}")
        target = sql.Identifier("chain", table)
        cols = sql.SQL(", ").join(map(sql.Identifier, columns))
        cur.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            ).format(stage, target)
        )
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
            for b in blocks:
                if table == "blocks":
                    copy.write_row(b.block)
                else:
                    for row in getattr(b, table):
                        copy.write_row(row)
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(target, cols, cols, stage)
        )


@dataclass
class Stats:
    batches: int = 0
    blocks: int = 0
    reorgs: int = 0
    committed_at: dict[int, float] = field(default_factory=dict)  # block number -> monotonic


class LiveIngest:
    def __init__(
        self,
        config: ChainConfig,
        database_url: str,
        log: Log = say,
        metric: Metric | None = None,
    ) -> None:
        self.config = config
        # what the runner counts for /metrics (chainlake.observe.metrics.PLATFORM_EVENTS)
        self.metric: Metric = metric or (lambda name, value: None)
        self._lag_reported = 0.0
        self.rpc = config.rpc()
        self.database_url = database_url
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.log = log
        self.stats = Stats()
        self.recent: dict[int, bytes] = {}  # number -> hash of stored blocks near the tip
        self.next_block = 0
        self.finalized: int | None = None
        self._finalized_checked = 0.0
        self._health_state: list[tuple[str, bool]] | None = None
        self._health_reported_at = 0.0

    # -- setup -------------------------------------------------------------------------------
    def prepare(self) -> None:
        start = self.config.start_block
        if start == "latest":
            row = self.conn.execute(
                "SELECT start_block FROM chain.chains WHERE chain_id = %s", (self.config.chain_id,)
            ).fetchone()
            tip = fetch.head(self.rpc) if row is None else None
            start = row[0] if row is not None else (tip[0] if tip else 0)
        register(self.conn, self.config, int(start))
        self._load_tip()

    def _load_tip(self) -> None:
        row = self.conn.execute(
            "SELECT next_block, parent_hash FROM chain.resume_point(%s)", (self.config.chain_id,)
        ).fetchone()
        if row is None:  # nothing stored yet
            (start,) = self.conn.execute(
                "SELECT start_block FROM chain.chains WHERE chain_id = %s", (self.config.chain_id,)
            ).fetchone() or (0,)
            first = self.config.ingest_from
            if first == "latest":
                tip = fetch.head(self.rpc)
                first = tip[0] if tip else start
            self.next_block = int(first if first is not None else start)
            self.recent = {}
            return
        self.next_block = int(row[0])
        self.recent = dict(
            self.conn.execute(
                "SELECT number, hash FROM chain.blocks WHERE chain_id = %s AND number >= %s",
                (self.config.chain_id, self.next_block - 2 * self.config.batch_blocks - 64),
            ).fetchall()
        )
        if row[1] is not None:
            self.recent[self.next_block - 1] = bytes(row[1])

    # -- the loop ----------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, max_seconds: float | None = None) -> None:
        self.prepare()
        watcher = HeadWatcher(self.config, self.log)
        watcher.start()
        deadline = time.monotonic() + max_seconds if max_seconds else None
        failures = 0
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                wrote = 0
                try:
                    wrote = self.step()
                    failures = 0
                except (DeepReorg, StoredChainGap):
                    raise
                except (psycopg.Error, ChainlakeError, ValueError) as exc:
                    failures += 1
                    if failures > MAX_CONSECUTIVE_FAILURES:
                        raise
                    self._recover(exc, failures, stop)
                    continue
                finally:
                    self.report_rpc_health()
                if wrote == 0:
                    watcher.wait(self.config.poll_interval if not watcher.live else 0.25)
        finally:
            watcher.stop()

    def report_rpc_health(self) -> None:
        """Tell Postgres which RPC endpoints are failing (chain.report_rpc_health) when that
        changes, and every HEALTH_REPORT_S while one is: the system alert rpc-endpoint-down
        fires on it, and clears when the endpoint answers again. Never fails the ingest."""
        health = self.rpc.health()
        state = [(h["address"], h["down_seconds"] is not None) for h in health]
        failing = any(down for _, down in state)
        due = failing and time.monotonic() - self._health_reported_at >= HEALTH_REPORT_S
        if state == self._health_state and not due:
            return
        try:
            self.conn.execute(
                "SELECT chain.report_rpc_health(%s, %s)",
                (self.config.chain_id, Jsonb(health)),
            )
        except psycopg.Error as exc:  # the step's own recovery reconnects
            self.log(f"chain {self.config.chain_id}: RPC health not reported: {exc}")
            return
        before = dict(self._health_state or [])
        self._health_state, self._health_reported_at = state, time.monotonic()
        for address, down in state:
            if down != before.get(address, False):
                verdict = "fails: traffic goes to the next endpoint" if down else "answers again"
                self.log(f"chain {self.config.chain_id}: RPC endpoint {address} {verdict}")

    def _recover(self, exc: Exception, failures: int, stop: threading.Event) -> None:
        """After a failed step: say why, back off (unless the stored tip just moved under us),
        reconnect if the session is gone, and resume from what Postgres holds."""
        moved = isinstance(exc, psycopg.Error) and exc.sqlstate in RESUME_STATES
        reason = exc.diag.message_primary if isinstance(exc, psycopg.Error) else str(exc)
        self.log(f"chain {self.config.chain_id}: {type(exc).__name__}: {reason}; resuming")
        if not moved:
            stop.wait(min(5.0, 0.05 * 2**failures))
        try:
            if self.conn.closed or self.conn.broken:
                self.conn = psycopg.connect(self.database_url, autocommit=True)
            self._load_tip()
        except (psycopg.Error, ChainlakeError) as again:
            self.log(f"chain {self.config.chain_id}: not resumed yet: {again}")

    def step(self) -> int:
        """Catch up once: write the blocks the node has beyond ours, or correct a reorg.
        Returns how many blocks were written."""
        tip = fetch.head(self.rpc)
        if tip is None:
            return 0
        head_number, head_hash = tip
        self._refresh_finalized(head_number)
        stored_tip = self.next_block - 1
        self._report_lag(head_number - stored_tip)
        if head_number <= stored_tip:
            known = self.recent.get(head_number)
            if known is not None and known != head_hash:
                return self._correct_reorg(head_number)
            return 0
        numbers = list(
            range(self.next_block, min(head_number, stored_tip + self.config.batch_blocks) + 1)
        )
        blocks = fetch.fetch_blocks(self.rpc, self.config.chain_id, numbers)
        if not blocks:
            return 0
        parent = self.recent.get(stored_tip)
        if parent is not None and blocks[0].parent_hash != parent:
            return self._correct_reorg(stored_tip)
        blocks = _linked_prefix(blocks)
        self._write(blocks, fork_block=None)
        return len(blocks)

    def _report_lag(self, blocks: int) -> None:
        """The node's head minus ours, at most once a second."""
        now = time.monotonic()
        if now - self._lag_reported >= 1.0:
            self._lag_reported = now
            self.metric(INGEST_LAG_BLOCKS, max(0, blocks))

    def _refresh_finalized(self, head_number: int) -> None:
        now = time.monotonic()
        if self.config.use_finalized_tag and now - self._finalized_checked > 1.0:
            self._finalized_checked = now
            tagged = fetch.finalized(self.rpc)
            if tagged is not None:
                self.finalized = tagged
                return
            self.config.use_finalized_tag = False
        if not self.config.use_finalized_tag:
            self.finalized = max(0, head_number - self.config.finality_depth)

    # -- reorgs ------------------------------------------------------------------------------
    def _correct_reorg(self, suspect: int) -> int:
        """The node's chain differs from ours at or below `suspect`: find the fork point, then
        rewrite everything above it in one transaction. Returns blocks written (0 when the node
        turned out to be lagging or inconsistent, and nothing changed)."""
        fork = self._find_fork(suspect)
        if fork is None:
            return 0
        tip = fetch.head(self.rpc)
        if tip is None or tip[0] <= fork:
            return 0
        last = min(tip[0], fork + max(self.config.batch_blocks, self.next_block - fork))
        blocks = fetch.fetch_blocks(self.rpc, self.config.chain_id, list(range(fork + 1, last + 1)))
        fork_hash = self.recent.get(fork) or self._stored_hash(fork)
        if fork_hash is None and self._stored_below(fork + 1):
            message = (
                f"chain {self.config.chain_id}: a reorg reaches block {fork}, which is missing "
                "from storage"
            )
            self.conn.execute("SELECT chain.record_stop(%s, %s)", (self.config.chain_id, message))
            raise StoredChainGap(message, "run `chainlake chain repair`, then ingestion resumes")
        if not blocks or (fork_hash is not None and blocks[0].parent_hash != fork_hash):
            return 0  # the node moved again meanwhile: try again on the next step
        blocks = _linked_prefix(blocks)
        self._write(blocks, fork_block=fork)
        self.stats.reorgs += 1
        self.log(
            f"chain {self.config.chain_id}: reorg at block {fork + 1}, "
            f"{self.next_block - 1 - fork} block(s) of the new branch written"
        )
        return len(blocks)

    def _find_fork(self, suspect: int) -> int | None:
        """Walk back from `suspect` to the highest block whose stored hash is the node's."""
        floor = suspect - 10 * (self.config.finality_depth + self.config.batch_blocks)
        top = suspect
        while top >= 0:
            numbers = list(range(max(top - 15, 0), top + 1))
            node = fetch.fetch_headers(self.rpc, numbers)
            for n in reversed(numbers):
                if node[n] is None:
                    return None  # a lagging node: not a reorg
                stored = self.recent.get(n) or self._stored_hash(n)
                if stored is None or stored == node[n]:
                    if n == suspect:
                        return None  # no difference after all (an inconsistent answer)
                    return n
                if self.finalized is not None and n <= self.finalized:
                    message = (
                        f"chain {self.config.chain_id}: the node's block {n} differs from the "
                        f"stored one at or below finality (finalized block {self.finalized})"
                    )
                    self.conn.execute(
                        "SELECT chain.record_stop(%s, %s)", (self.config.chain_id, message)
                    )
                    raise DeepReorg(
                        message,
                        "ingestion stopped rather than rewrite final data; check the RPC "
                        "endpoints, then `chainlake chain check`",
                    )
                if n < floor:
                    return None
            top = numbers[0] - 1
        return None

    def _stored_below(self, number: int) -> bool:
        row = self.conn.execute(
            "SELECT chain.stored_hash(%s, %s) IS NOT NULL OR EXISTS (SELECT 1 FROM chain.blocks "
            "WHERE chain_id = %s AND number < %s)",
            (self.config.chain_id, number - 1, self.config.chain_id, number),
        ).fetchone()
        return bool(row and row[0])

    def _stored_hash(self, number: int) -> bytes | None:
        row = self.conn.execute(
            "SELECT chain.stored_hash(%s, %s)", (self.config.chain_id, number)
        ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    # -- writing -----------------------------------------------------------------------------
    def _write(self, blocks: list[BlockData], *, fork_block: int | None) -> None:
        chain_id = self.config.chain_id
        with self.conn.transaction(), self.conn.cursor() as cur:
            row = cur.execute(
                "SELECT finalized FROM chain.chains WHERE chain_id = %s", (chain_id,)
            ).fetchone()
            if fork_block is not None:
                cur.execute(
                    "SELECT chain.rewind(%s, %s, %s)",
                    (chain_id, fork_block, [b.hash for b in blocks]),
                )
            copy_blocks(cur, blocks)
            cur.execute(
                "SELECT chain.commit_batch(%s, %s, %s, %s)",
                (chain_id, blocks[0].number, blocks[-1].number, self.finalized),
            )
            batch = Batch(
                chain_id,
                blocks[0].number,
                blocks[-1].number,
                row[0] if row else None,
                self.finalized,
            )
            began = time.perf_counter()
            evaluate_batch(self.conn, batch)  # the firings commit with the blocks
            self.metric(ALERT_EVALUATION_SECONDS, time.perf_counter() - began)
        now = time.monotonic()
        if fork_block is not None:
            for n in [n for n in self.recent if n > fork_block]:
                del self.recent[n]
        for b in blocks:
            self.recent[b.number] = b.hash
            self.stats.committed_at[b.number] = now
        self.next_block = blocks[-1].number + 1
        self.stats.batches += 1
        self.stats.blocks += len(blocks)
        floor = self.next_block - 4 * (self.config.batch_blocks + self.config.finality_depth)
        for n in [n for n in self.recent if n < floor]:
            del self.recent[n]
        for n in [n for n in self.stats.committed_at if n < floor - 10_000]:
            del self.stats.committed_at[n]

    def close(self) -> None:
        self.conn.close()


def _linked_prefix(blocks: list[BlockData]) -> list[BlockData]:
    """The leading blocks that link hash to hash (the rest came from a node mid-reorg)."""
    for i in range(1, len(blocks)):
        if blocks[i].parent_hash != blocks[i - 1].hash:
            return blocks[:i]
    return blocks
