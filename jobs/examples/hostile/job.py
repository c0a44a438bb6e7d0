"""A hostile job (Python SDK) that attacks its sandbox, one attack per run (params.attack):

- network: connect to 127.0.0.1:`port` (a port that is listening on the host);
- read_host: read the host file `path` (not one of the run's inputs);
- write_outside: write the file `target`, outside the run's output prefix;
- undeclared_output: report an output for `stolen`, a dataset the definition does not declare;
- outside_output: report as its output a symbolic link, inside its prefix, to the host file `path`;
- memory: allocate `mb` MB (default 1024), well past its 64 MB limit;
- traverse_output: report as its output a URI that climbs out of its prefix with '..';
- traverse_partition: report an output whose partition key climbs out with '..';
- hard_link: hard-link the host file `path` into its prefix and report it as its output;
- egress_loopback: with a declared `network` (some other, allowed host:port), connect to
  127.0.0.1:`port` (where the platform's node, Postgres or API listens), directly and through
  the run's egress proxy;
- egress_metadata: the same towards the cloud metadata address, 169.254.169.254:80.

Attacks that live in the definition rather than in this code (a version, name, dataset, secret,
template or folder that climbs out of the org's tree; an image that is a podman flag) are
applied by the tests as hostile definitions of this job (tests/security/test_c1_*, test_h1_*).

A blocked attack fails the run with an error naming what was blocked (the platform's own
refusal, or this job's `PermanentError` wrapping what the sandbox answered). An attack that gets
through logs "ESCAPED: ..." and succeeds with that text as its output, so it cannot go unnoticed.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from chainlake.sdk import Context, PermanentError, connect, job

CHUNK_MB = 8


@job
def hostile(ctx: Context) -> None:
    attack = ctx.params["attack"]
    if attack == "network":
        port = int(ctx.params["port"])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
        except OSError as exc:
            raise PermanentError(
                f"network egress blocked: connecting to 127.0.0.1:{port} failed: {_why(exc)}"
            ) from exc
        escaped(ctx, f"connected to 127.0.0.1:{port}")
    elif attack == "read_host":
        path = Path(ctx.params["path"])
        try:
            content = path.read_text()
        except OSError as exc:
            raise PermanentError(f"reading host file blocked: {path}: {_why(exc)}") from exc
        escaped(ctx, f"read host file {path}: {content[:200]}")
    elif attack == "write_outside":
        target = Path(ctx.params["target"])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("planted by the hostile job\n")
        except OSError as exc:
            raise PermanentError(
                f"writing outside the output prefix blocked: {target}: {_why(exc)}"
            ) from exc
        escaped(ctx, f"wrote {target}, outside the output prefix")
    elif attack == "undeclared_output":
        path = ctx.output_path("stolen", "part-0.txt")
        path.write_text("ESCAPED: recorded as a version of an undeclared dataset\n")
        ctx.log("reporting an output for 'stolen', which the definition does not declare")
        ctx.output("stolen", uris=[path.as_uri()], rows=1)
    elif attack == "outside_output":
        link = ctx.output_path("hostile_out", "looks-inside.txt")
        os.symlink(ctx.params["path"], link)
        ctx.log(f"reporting {link}, a symbolic link to {ctx.params['path']}, as an output")
        ctx.output("hostile_out", uris=[link.as_uri()], rows=1)
    elif attack == "memory":
        chunks = []
        for _ in range(int(ctx.params.get("mb", 1024)) // CHUNK_MB):
            chunks.append(b"\xff" * (CHUNK_MB << 20))  # written, so really resident
        escaped(ctx, f"allocated {len(chunks) * CHUNK_MB} MB")
    elif attack in PATH_ATTACKS:
        PATH_ATTACKS[attack](ctx)
    elif attack in NETWORK_ATTACKS:
        NETWORK_ATTACKS[attack](ctx)
    else:
        raise PermanentError(f"unknown attack {attack!r}")


def _why(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def escaped(ctx: Context, what: str) -> None:
    """The attack got through: say so everywhere a test or a person looks."""
    ctx.log(f"ESCAPED: {what}", level="error")
    path = ctx.output_path("hostile_out", "escaped.txt")
    path.write_text(f"ESCAPED: {what}\n")
    ctx.output("hostile_out", uris=[path.as_uri()], rows=1)


def traverse_output(ctx: Context) -> None:
    """Report a file of a sibling run (`target`'s folder) through '..' in the output URI."""
    inside = ctx.output_path("hostile_out", "part-0.txt")
    inside.write_text("ESCAPED: a URI through '..' recorded as an output\n")
    climbing = f"{inside.parent}/../../another-run/hostile_out/part-0.txt"
    ctx.log(f"reporting {climbing}, which climbs out of the prefix, as an output")
    ctx.output("hostile_out", uris=[Path(climbing).as_uri()], rows=1)


def traverse_partition(ctx: Context) -> None:
    """Report an output whose partition key climbs out of the dataset's folder."""
    path = ctx.output_path("hostile_out", "part-0.txt")
    path.write_text("ESCAPED: a partition key with '..' recorded\n")
    ctx.log("reporting an output with the partition key '../../acme'")
    ctx.output("hostile_out", uris=[path.as_uri()], rows=1, partition="../../acme")


def hard_link(ctx: Context) -> None:
    """Hard-link the host file `path` into the prefix (a second name for its inode: a runner
    that chowns or hashes the prefix would reach the host file) and report it."""
    link = ctx.output_path("hostile_out", "linked.txt")
    try:
        os.link(ctx.params["path"], link)
    except OSError as exc:
        raise PermanentError(
            f"hard link to a host file blocked: {ctx.params['path']}: {_why(exc)}"
        ) from exc
    ctx.log(f"reporting {link}, a hard link to {ctx.params['path']}, as an output")
    ctx.output("hostile_out", uris=[link.as_uri()], rows=1)


PATH_ATTACKS = {
    "traverse_output": traverse_output,
    "traverse_partition": traverse_partition,
    "hard_link": hard_link,
}


def reach(ctx: Context, host: str, port: int) -> None:
    """Connect to host:port directly, then through the run's egress proxy (the SDK's connect):
    escaped when either connects, else a PermanentError naming both refusals."""
    blocked = []
    for how, opener in (
        ("directly", lambda: socket.create_connection((host, port), timeout=2)),
        ("through the egress proxy", lambda: connect(host, port, timeout=5)),
    ):
        try:
            opener().close()
        except OSError as exc:
            blocked.append(f"{how}: {_why(exc)}")
            continue
        escaped(ctx, f"connected to {host}:{port} {how}")
        return
    raise PermanentError(f"egress blocked: {host}:{port}: " + "; ".join(blocked))


NETWORK_ATTACKS = {
    "egress_loopback": lambda ctx: reach(ctx, "127.0.0.1", int(ctx.params["port"])),
    "egress_metadata": lambda ctx: reach(ctx, "169.254.169.254", 80),
}


if __name__ == "__main__":
    hostile.main()
