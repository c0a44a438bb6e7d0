"""The devchain: a local EVM node (anvil) mining every 400 ms, an ERC-20 compiled from the
Solidity source in `chainlake/local/contracts/`, and a traffic generator (token transfers and
approvals that emit logs, plain ETH transfers) at a configurable rate.

`python -m chainlake.local.devchain --port N` runs it in the foreground; `chainlake up` starts it
in the background when no RPC endpoint is configured.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainlake.chain.rpc import RpcClient
from chainlake.errors import ChainlakeError
from chainlake.local.pricefeed import PriceFeed
from chainlake.logs import configure

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
CONTRACT = Path(__file__).with_name("contracts") / "DevToken.sol"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
APPROVAL_TOPIC = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"


def tool(name: str) -> str:
    """A Node tool from tools/node_modules (`npm ci --prefix tools` installs them)."""
    local = TOOLS / "node_modules" / ".bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    raise ChainlakeError(
        f"{name} is not installed",
        "`make bootstrap` installs it (npm ci --prefix tools)",
    )


# -- the node ------------------------------------------------------------------------------------
@dataclass
class Anvil:
    """One anvil process on 127.0.0.1."""

    port: int
    chain_id: int = 31337
    block_time: float | None = 0.4  # None: mine only on request (evm_mine)
    log_path: Path | None = None
    state_path: Path | None = None  # keep the chain across restarts (dumped every 5 s and at exit)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Anvil:
        argv = [
            tool("anvil"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            "10",
            "--silent",
        ]
        if self.state_path is not None:
            argv += ["--state", str(self.state_path), "--state-interval", "5"]
        if self.block_time is None:
            argv.append("--no-mining")
        else:
            argv += ["--block-time", str(self.block_time)]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        rpc = RpcClient([self.url], timeout=1.0, max_attempts=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainlakeError(f"anvil exited at start (port {self.port} taken?)")
            try:
                rpc.call("eth_chainId")
                return self
            except ChainlakeError:
                time.sleep(0.05)
        self.stop()
        raise ChainlakeError(f"anvil did not answer on port {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the token -----------------------------------------------------------------------------------
def compile_token() -> dict[str, Any]:
    """{abi, bytecode, selectors} of DevToken, compiled by solcjs; cached by source hash."""
    source = CONTRACT.read_text()
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    cache = TOOLS / "build" / f"DevToken-{digest}.json"
    if cache.exists():
        return dict(json.loads(cache.read_text()))
    standard = {
        "language": "Solidity",
        "sources": {"DevToken.sol": {"content": source}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.methodIdentifiers"]}
            },
        },
    }
    done = subprocess.run(
        ["node", str(TOOLS / "solc-compile.js")],
        input=json.dumps(standard).encode(),
        capture_output=True,
        cwd=TOOLS,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise ChainlakeError(f"solc failed: {done.stderr.decode()[-500:]}")
    output = json.loads(done.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ChainlakeError(f"DevToken.sol does not compile: {errors[0]['formattedMessage']}")
    contract = output["contracts"]["DevToken.sol"]["DevToken"]
    artifact = {
        "abi": contract["abi"],
        "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
        "selectors": {k: "0x" + v for k, v in contract["evm"]["methodIdentifiers"].items()},
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(artifact))
    return artifact


def _word(value: int | str) -> str:
    if isinstance(value, str):  # an address
        return value[2:].lower().rjust(64, "0")
    return format(value, "064x")


def _string_args(*values: str | int) -> str:
    """ABI-encode constructor args of types (string, string, uint256)."""
    head: list[str] = []
    tail: list[str] = []
    offset = 32 * len(values)
    for value in values:
        if isinstance(value, str):
            head.append(_word(offset))
            data = value.encode()
            padded = data.hex().ljust(((len(data) + 31) // 32) * 64, "0")
            tail.append(_word(len(data)) + padded)
            offset += 32 + ((len(data) + 31) // 32) * 32
        else:
            head.append(_word(value))
    return "".join(head) + "".join(tail)


def wait_receipt(rpc: RpcClient, tx_hash: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = rpc.call("eth_getTransactionReceipt", [tx_hash])
        if receipt:
            return dict(receipt)
        time.sleep(0.05)
    raise ChainlakeError(f"transaction {tx_hash} was not mined within {timeout:.0f} s")


def deploy_token(rpc: RpcClient, name: str = "Dev Token", symbol: str = "DEV") -> str:
    """Deploy a DevToken from the first dev account; returns its address."""
    artifact = compile_token()
    sender = rpc.call("eth_accounts")[0]
    data = artifact["bytecode"] + _string_args(name, symbol, 10**27)
    tx = rpc.call("eth_sendTransaction", [{"from": sender, "data": data, "gas": hex(3_000_000)}])
    receipt = wait_receipt(rpc, tx)
    return str(receipt["contractAddress"])


# -- traffic -------------------------------------------------------------------------------------
STALL_SECONDS = 3.0  # an account whose sent transactions are not mined for this long is stuck
WATCH_SECONDS = 0.5  # how often the mined nonces are read


@dataclass
class Mined:
    """What the node has mined of the traffic: each account's mined nonce, when it last moved,
    and a running count of mined transactions with its recent history (for a rate)."""

    nonces: dict[str, int] = field(default_factory=dict)
    moved_at: dict[str, float] = field(default_factory=dict)
    total: int = 0
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def observe(self, latest: dict[str, int], now: float) -> list[str]:
        """Take the node's mined nonces; return the accounts whose nonce went back (a reorg
        dropped their transactions)."""
        went_back = [a for a, n in latest.items() if n < self.nonces.get(a, n)]
        for account, nonce in latest.items():
            before = self.nonces.get(account)
            if before is None or nonce != before:
                self.moved_at[account] = now
            if before is not None and nonce > before:
                self.total += nonce - before
            self.nonces[account] = nonce
        self.history.append((now, self.total))
        while self.history and self.history[0][0] < now - 60:
            self.history.popleft()
        return went_back

    def per_second(self) -> float:
        """Transactions mined per second over the last minute (or since the traffic started)."""
        if len(self.history) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self.history[0], self.history[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


log = logging.getLogger("chainlake.devchain")


def _to_stderr(line: str) -> None:
    log.info(line)


@dataclass
class Traffic:
    """Send about `rate` transactions a second: 60% token transfers, 15% approvals, 25% ETH.

    It keeps flowing through reorgs, restarts and a full node: it reads the mined nonces every
    WATCH_SECONDS, and when an account's mined nonce goes back (a reorg orphaned its
    transactions, leaving a gap the node would wait on forever) or stops moving while it has
    sent more (STALL_SECONDS), it drops the node's pending pool and starts again from the mined
    nonces, saying so through `log`."""

    rpc: RpcClient
    token: str
    rate: float = 20.0
    seed: int = 7
    sent: int = 0
    failed: int = 0  # batches the node refused (then nonces are read again)
    resyncs: int = 0  # times the traffic started again from the mined nonces
    nonces: dict[str, int] = field(default_factory=dict)
    mined: Mined = field(default_factory=Mined)
    log: Callable[[str], None] = _to_stderr
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def fund_accounts(self) -> list[str]:
        selectors = compile_token()["selectors"]
        accounts: list[str] = self.rpc.call("eth_accounts")
        counts = self.rpc.batch([("eth_getTransactionCount", [a, "pending"]) for a in accounts])
        self.nonces = {a: int(n, 16) for a, n in zip(accounts, counts, strict=True)}
        calls = [
            self._send(
                {
                    "from": accounts[0],
                    "to": self.token,
                    "data": selectors["transfer(address,uint256)"] + _word(a) + _word(10**24),
                    "gas": hex(100_000),
                }
            )
            for a in accounts[1:]
        ]
        self.rpc.batch(calls)
        return accounts

    def _send(self, tx: dict[str, Any]) -> tuple[str, list[Any]]:
        """eth_sendTransaction with an explicit nonce (a batch from one sender needs them)."""
        sender = tx["from"]
        tx["nonce"] = hex(self.nonces[sender])
        self.nonces[sender] += 1
        return ("eth_sendTransaction", [tx])

    def transactions(self, accounts: list[str], count: int, rnd: random.Random) -> list[Any]:
        selectors = compile_token()["selectors"]
        calls: list[tuple[str, list[Any]]] = []
        for _ in range(count):
            sender, receiver = rnd.sample(accounts, 2)
            kind = rnd.random()
            if kind < 0.60:
                data = selectors["transfer(address,uint256)"] + _word(receiver)
                data += _word(rnd.randint(1, 10**21))
                tx = {"from": sender, "to": self.token, "data": data, "gas": hex(100_000)}
            elif kind < 0.75:
                data = selectors["approve(address,uint256)"] + _word(receiver)
                data += _word(rnd.randint(1, 10**22))
                tx = {"from": sender, "to": self.token, "data": data, "gas": hex(100_000)}
            else:
                tx = {"from": sender, "to": receiver, "value": hex(rnd.randint(1, 10**16))}
            calls.append(self._send(tx))
        return calls

    def start(self) -> Traffic:
        accounts = self.fund_accounts()
        self._thread = threading.Thread(target=self._run, args=(accounts,), daemon=True)
        self._thread.start()
        return self

    def _run(self, accounts: list[str]) -> None:
        rnd = random.Random(self.seed)
        tick = 0.1
        owed = 0.0
        next_watch = 0.0
        while not self._stop.wait(tick):
            if time.monotonic() >= next_watch:
                self._watch(accounts)
                next_watch = time.monotonic() + WATCH_SECONDS
            owed += self.rate * tick
            count = int(owed)
            if count == 0:
                continue
            owed -= count
            try:
                self.rpc.batch(self.transactions(accounts, count, rnd))
                self.sent += count
            except Exception:
                # never let the generator die; start again from the node's nonces
                self.failed += 1
                self._resync_nonces(accounts)

    def _watch(self, accounts: list[str]) -> None:
        """Read the mined nonces; start again from them when the traffic stopped being mined."""
        try:
            counts = self.rpc.batch([("eth_getTransactionCount", [a, "latest"]) for a in accounts])
        except ChainlakeError:
            return  # the node is away; sending fails and resyncs on its own
        now = time.monotonic()
        latest = {a: int(n, 16) for a, n in zip(accounts, counts, strict=True)}
        went_back = self.mined.observe(latest, now)
        stuck = [
            a
            for a in accounts
            if self.nonces.get(a, 0) > latest[a]
            and now - self.mined.moved_at.get(a, now) > STALL_SECONDS
        ]
        if went_back:
            self.restart_from(
                latest, f"a reorg orphaned transactions of {len(went_back)} account(s)"
            )
        elif stuck:
            self.restart_from(
                latest,
                f"transactions of {len(stuck)} account(s) not mined for {STALL_SECONDS:g} s",
            )

    def restart_from(self, latest: dict[str, int], why: str) -> None:
        """Drop the node's pending pool (transactions queued behind a nonce gap would never be
        mined) and send again from the mined nonces."""
        # not anvil: the node keeps them, and new transactions replace them by nonce
        with contextlib.suppress(ChainlakeError):
            self.rpc.call("anvil_dropAllTransactions")
        ahead = sum(max(0, self.nonces.get(a, 0) - n) for a, n in latest.items())
        self.nonces = dict(latest)
        self.mined.moved_at = dict.fromkeys(latest, time.monotonic())
        self.resyncs += 1
        self.log(
            f"devchain traffic: resynced ({why}); {ahead} unmined transaction(s) dropped, "
            "sending again from the mined nonces"
        )

    def _resync_nonces(self, accounts: list[str]) -> None:
        try:
            counts = self.rpc.batch([("eth_getTransactionCount", [a, "pending"]) for a in accounts])
        except Exception:
            return
        self.nonces = {a: int(n, 16) for a, n in zip(accounts, counts, strict=True)}

    def stats(self) -> dict[str, Any]:
        """What `chainlake status` shows of the traffic."""
        return {
            "rate": self.rate,
            "mined_per_second": round(self.mined.per_second(), 2),
            "sent": self.sent,
            "resyncs": self.resyncs,
        }

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)


def _kept_token(rpc: RpcClient, state: Path | None) -> str | None:
    """The token deployed before a restart, when the kept chain still has its code."""
    if state is None or not state.with_suffix(".token").exists():
        return None
    token = state.with_suffix(".token").read_text().strip()
    return token if rpc.call("eth_getCode", [token, "latest"]) not in (None, "0x") else None


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chainlake devchain", description=__doc__)
    parser.add_argument("--port", type=int, default=8545)
    parser.add_argument("--chain-id", type=int, default=31337)
    parser.add_argument("--block-time", type=float, default=0.4)
    parser.add_argument("--tx-rate", type=float, default=20.0, help="transactions per second")
    parser.add_argument("--feed-port", type=int, default=0, help="the price feed's port (0: any)")
    parser.add_argument("--info", type=Path, help="write {url, chain_id, token} here when ready")
    parser.add_argument("--state", type=Path, help="keep the chain in this file across restarts")
    args = parser.parse_args(argv)
    configure("devchain")
    anvil = Anvil(args.port, args.chain_id, args.block_time, state_path=args.state).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        rpc = RpcClient([anvil.url])
        token = _kept_token(rpc, args.state) or deploy_token(rpc)
        if args.state:
            args.state.with_suffix(".token").write_text(token)
        traffic = Traffic(rpc, token, args.tx_rate).start()
        feed = PriceFeed(args.feed_port).start()
        info = {
            "url": anvil.url,
            "chain_id": args.chain_id,
            "token": token,
            "price_feed": feed.url(),
            "pid": os.getpid(),
        }
        log.info("devchain ready at %s (chain %s, token %s)", anvil.url, args.chain_id, token)
        ticks = 0
        while True:
            if args.info and ticks % 5 == 0:  # what status shows of the traffic, every 5 s
                _write_atomically(args.info, json.dumps({**info, "traffic": traffic.stats()}))
            if stop.wait(1.0):
                break
            ticks += 1
            if anvil.proc and anvil.proc.poll() is not None:
                log.error("anvil exited")
                return 1
        traffic.stop()
        feed.stop()
    finally:
        anvil.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
