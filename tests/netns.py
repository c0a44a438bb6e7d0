"""Network namespaces as hosts of their own, for tests: a namespace joined to this machine by one
veth pair with a /30 between the two ends, no default route, no bridge, no NAT, no firewall
change. Processes start inside with `nsenter --net=` (not `ip netns exec`, which remounts /sys
and breaks runc). The caller names each namespace with its prefix and a random suffix, and
removes it when done (also when its test fails).

    host_addr, ns_addr = create("cld-3fa9", "10.231.17.4/30")
    proc = subprocess.Popen(run_in("cld-3fa9", ["podman", "system", "service", ...]))
    remove("cld-3fa9")
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
from pathlib import Path

NETNS_DIR = Path("/run/netns")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def veth_name(name: str) -> str:
    """The host end's name for namespace `name` (an interface name holds at most 15 bytes)."""
    return (name.replace("-", "") + "h")[-15:]


def random_subnet(network: str) -> str:
    """A random /30 inside `network` (e.g. 10.231.0.0/16), as "ADDR/30"."""
    net = ipaddress.ip_network(network)
    blocks = net.num_addresses // 4
    return f"{net.network_address + 4 * random.randrange(blocks)}/30"


def create(name: str, cidr: str) -> tuple[str, str]:
    """The namespace `name` with a veth pair to this machine over the /30 `cidr`: (the host
    end's address, the namespace end's address). Half-made state is removed on failure."""
    subnet = ipaddress.ip_network(cidr)
    if subnet.prefixlen != 30:
        raise ValueError(f"{cidr}: a namespace gets a /30 (two addresses, host and namespace)")
    host_addr, ns_addr = (str(a) for a in subnet.hosts())
    host_end, ns_end = veth_name(name), veth_name(name)[:-1] + "n"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", ns_end, "netns", name)
        _ip("addr", "add", f"{host_addr}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("-n", name, "addr", "add", f"{ns_addr}/30", "dev", ns_end)
        _ip("-n", name, "link", "set", ns_end, "up")
        _ip("-n", name, "link", "set", "lo", "up")
    except Exception:
        remove(name)
        raise
    return host_addr, ns_addr


def run_in(name: str, argv: list[str]) -> list[str]:
    """`argv` to start inside the namespace's network (the rest of this machine as it is)."""
    return ["nsenter", f"--net={NETNS_DIR / name}", *argv]


def remove(name: str) -> None:
    """The namespace and its veth pair, gone (whatever of them exists)."""
    _ip("link", "del", veth_name(name), check=False)  # deletes the peer in the namespace too
    _ip("netns", "del", name, check=False)
