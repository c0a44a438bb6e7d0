"""The forwarder of a job's network namespace (runner/egress.py starts it there):

    python -m runner.forward SOCKET PORT [--drop-privileges]

It brings the namespace's loopback up, listens on 127.0.0.1:PORT (the job's HTTP_PROXY), says
"ready" on stdout, and relays each connection to the run's egress proxy at the unix socket
SOCKET, which decides what it may reach. The namespace has no other interface, so this is the
only way out. With --drop-privileges (a root runner) it then runs as nobody. It ends when its
stdin closes: the runner ended it, or the runner died.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import sys
import threading

from chainlake.outbound import relay

NOBODY = 65534
MAX_CONNECTIONS = 256  # at once; more are closed at once (the proxy caps what it serves, too)
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """`ip link set lo up`, without needing `ip`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def forward(client: socket.socket, proxy: str, slots: threading.Semaphore) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(proxy)
        relay(client, upstream)
    except OSError:
        client.close()
        upstream.close()
    finally:
        slots.release()


def serve(proxy: str, port: int, drop_privileges: bool) -> None:
    loopback_up()
    server = socket.create_server(("127.0.0.1", port), backlog=64)
    if drop_privileges:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    print("ready", flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    slots = threading.Semaphore(MAX_CONNECTIONS)
    while True:
        client, _ = server.accept()
        if not slots.acquire(blocking=False):
            client.close()
            continue
        threading.Thread(target=forward, args=(client, proxy, slots), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), "--drop-privileges" in sys.argv[3:])
