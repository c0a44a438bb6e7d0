"""Hosts that share nothing but the network, on this machine: network namespaces joined by veth
pairs with /30 addresses of 10.232.0.0/16, no default route, no bridge, no NAT, and processes
started inside a namespace with `nsenter --net` (not `ip netns exec`, which remounts /sys).

Every namespace, veth and process a Topology makes is removed by `close()`, also after a
failure (use it as a context manager); names carry a prefix and a random suffix, so tests
running side by side never collide."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import secrets
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

NETWORK = ipaddress.IPv4Network("10.232.0.0/16")
NETNS_DIR = Path("/run/netns")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class Namespace:
    """A network namespace (None for this machine's own: the root namespace)."""

    name: str

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def enter(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the namespace."""
        return ["nsenter", f"--net={self.path}", *argv]

    def ip(self, *args: str) -> None:
        ip("-n", self.name, *args)


@dataclass
class Link:
    """A veth pair: `near` (address near_address) in `near_ns`, `far` in `far_ns`; a /30."""

    near_ns: Namespace | None
    near: str
    near_address: str
    far_ns: Namespace
    far: str
    far_address: str

    def _near_ip(self, *args: str) -> None:
        if self.near_ns is None:
            ip(*args)
        else:
            self.near_ns.ip(*args)

    def down(self) -> None:
        """Cut the far side off: its packets go nowhere (no carrier), no reset is sent."""
        self._near_ip("link", "set", self.near, "down")

    def up(self) -> None:
        self._near_ip("link", "set", self.near, "up")


class Topology:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.suffix = secrets.token_hex(2)
        self.namespaces: list[Namespace] = []
        self.links: list[Link] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self._subnets: set[ipaddress.IPv4Network] = set()

    def __enter__(self) -> Topology:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- building ---------------------------------------------------------------------------
    def namespace(self, role: str) -> Namespace:
        """A new namespace `<prefix>-<suffix>-<role>`, its loopback up."""
        ns = Namespace(f"{self.prefix}-{self.suffix}-{role}")
        ip("netns", "add", ns.name)
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    def link(self, near_ns: Namespace | None, far_ns: Namespace) -> Link:
        """A veth pair between `near_ns` (None: the root namespace) and `far_ns`, a /30 of
        NETWORK each (one the root namespace does not hold already)."""
        subnet = self._free_subnet(root=near_ns is None)
        near_address, far_address = (str(a) for a in subnet.hosts())
        index = len(self.links)
        near, far = f"{self.prefix}{self.suffix}n{index}", f"{self.prefix}{self.suffix}f{index}"
        ip("link", "add", near, "type", "veth", "peer", "name", far)
        link = Link(near_ns, near, near_address, far_ns, far, far_address)
        self.links.append(link)  # removed with its namespace, or by close() if still here
        ip("link", "set", far, "netns", far_ns.name)
        if near_ns is not None:
            ip("link", "set", near, "netns", near_ns.name)
        link._near_ip("addr", "add", f"{near_address}/30", "dev", near)
        link._near_ip("link", "set", near, "up")
        far_ns.ip("addr", "add", f"{far_address}/30", "dev", far)
        far_ns.ip("link", "set", far, "up")
        return link

    def service_address(self, ns: Namespace, links: Sequence[Link]) -> str:
        """One address of `ns` (on its loopback) that the far side of each of `links` (whose
        near side is in `ns`) reaches through its link: a host known by one address whichever
        link a peer has to it (a route per peer to that /32, nothing else)."""
        address = str(next(self._free_subnet(root=False).hosts()))
        ns.ip("addr", "add", f"{address}/32", "dev", "lo")
        for link in links:
            if link.near_ns != ns:
                raise ValueError(f"{link.near} is not in {ns.name}")
            link.far_ns.ip("route", "add", f"{address}/32", "via", link.near_address)
        return address

    def _free_subnet(self, root: bool) -> ipaddress.IPv4Network:
        taken = self._root_addresses() if root else set()
        chooser = random.SystemRandom()
        for _ in range(100):
            base = int(NETWORK.network_address) + 4 * chooser.randrange(NETWORK.num_addresses // 4)
            subnet = ipaddress.IPv4Network(f"{ipaddress.IPv4Address(base)}/30")
            if subnet not in self._subnets and not any(a in subnet for a in taken):
                self._subnets.add(subnet)
                return subnet
        raise RuntimeError(f"no free /30 in {NETWORK}")

    @staticmethod
    def _root_addresses() -> set[ipaddress.IPv4Address]:
        shown = subprocess.run(
            ["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True
        ).stdout
        return {
            ipaddress.IPv4Interface(word).ip
            for line in shown.splitlines()
            for word in line.split()[3:4]
        }

    # -- processes --------------------------------------------------------------------------
    def start(
        self,
        ns: Namespace,
        argv: Sequence[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """`argv` inside `ns` (its own process group), output to `log`; stopped by close()."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ns.enter(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        self.processes.append(proc)
        return proc

    # -- removing ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL), then remove every veth and namespace."""
        for proc in self.processes:
            _signal_group(proc, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        for link in self.links:  # a veth still in the root namespace (its peer never moved)
            subprocess.run(["ip", "link", "del", link.near], check=False, capture_output=True)
        for ns in self.namespaces:  # takes the veths inside with it
            subprocess.run(["ip", "netns", "del", ns.name], check=False, capture_output=True)
        self.processes, self.links, self.namespaces = [], [], []


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
