"""`chainlake doctor`: what `make up` needs on this machine, each checked, with the fix.

A check that fails means `make up` (or a part of the platform) cannot work as things are; a
warning means a capability is missing (the container launcher without podman, say) while the
rest works. Nothing here changes the machine.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from chainlake.config import Settings
from chainlake.errors import StackError
from chainlake.local.devchain import TOOLS
from chainlake.local.localpg import (
    FALLBACK_ROOT,
    SUPERUSER,
    LocalPostgres,
    pg_bindir,
    port_is_free,
    server_version,
)

MIN_FREE_BYTES = 1 << 30


@dataclass(frozen=True)
class Check:
    name: str
    state: str  # ok, warn or fail
    detail: str
    fix: str = ""


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def check_python() -> Check:
    return ok("python", f"{'.'.join(map(str, sys.version_info[:3]))} at {sys.executable}")


def check_postgres_binaries() -> Check:
    try:
        bindir = pg_bindir()
    except StackError as exc:
        return Check("postgres binaries", "fail", exc.message, exc.hint or "")
    if not (bindir / "postgres").exists():
        return Check(
            "postgres binaries",
            "fail",
            f"no postgres in {bindir}",
            "install PostgreSQL (Debian: apt-get install postgresql-15) or fix CHAINLAKE_PG_BINDIR",
        )
    return ok("postgres binaries", f"{bindir} ({server_version(bindir)})")


def check_psql() -> Check:
    found = shutil.which("psql")
    if found is None:
        return Check(
            "psql",
            "fail",
            "not on PATH",
            "install the client (Debian: apt-get install "
            "postgresql-client); `chainlake psql` runs it",
        )
    return ok("psql", found)


def check_server_user(settings: Settings) -> Check:
    """As root the embedded server runs as the postgres OS user: it must exist, and its data
    lives where that user can reach it."""
    if settings.external_database_url:
        return ok("postgres OS user", "not needed: CHAINLAKE_DATABASE_URL names the server")
    if os.geteuid() != 0:
        return ok("postgres OS user", "not needed: the server runs as you")
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        return Check(
            "postgres OS user",
            "fail",
            f"no OS user {SUPERUSER!r} (as root, the embedded server runs as it)",
            "install PostgreSQL from your distribution (it creates the user), or run as "
            "another user",
        )
    if shutil.which("runuser") is None:
        return Check("postgres OS user", "fail", "runuser is missing", "apt-get install util-linux")
    pg = LocalPostgres(settings.postgres_dir, {})
    if pg.initialized:
        return ok("postgres OS user", f"{SUPERUSER}; the cluster's data: {pg.data_dir}")
    near = settings.postgres_dir.parent
    while not near.exists():
        near = near.parent
    where = (
        f"in {settings.postgres_dir}"
        if pg.owner_can_reach(near)
        else f"under {FALLBACK_ROOT} ({SUPERUSER} cannot enter {near})"
    )
    return ok("postgres OS user", f"{SUPERUSER}; `make up` keeps the cluster's data {where}")


def check_data_dir(settings: Settings) -> Check:
    """A data directory made by another PostgreSQL major version cannot be started."""
    if settings.external_database_url:
        return ok("data directory", "external server")
    pg = LocalPostgres(settings.postgres_dir, {})
    if not pg.initialized:
        return ok("data directory", f"none yet: `make up` creates {settings.postgres_dir}")
    problem = pg.version_mismatch()
    if problem:
        return Check("data directory", "fail", problem.message, problem.hint or "")
    return ok("data directory", str(pg.data_dir))


def check_node_tools() -> Check:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return Check(
            "node tools",
            "fail",
            f"{' and '.join(missing)} not on PATH: no devchain (anvil) and no Node.js jobs",
            "install Node.js 20 and npm (Debian: apt-get install nodejs npm), then make bootstrap",
        )
    if not (TOOLS / "node_modules" / ".bin" / "anvil").exists():
        return Check(
            "node tools", "fail", "anvil is not installed in tools/", "make bootstrap (npm ci)"
        )
    return ok("node tools", "node, npm, anvil, solc")


def check_podman() -> Check:
    missing = [tool for tool in ("podman", "runc") if shutil.which(tool) is None]
    if missing:
        return Check(
            "container launcher",
            "warn",
            f"{' and '.join(missing)} missing: container jobs cannot run",
            "apt-get install podman runc debootstrap (bootstrap does it as root)",
        )
    return ok("container launcher", "podman with runc")


def check_sandbox() -> Check:
    missing = [t for t in ("unshare", "mount", "setpriv") if shutil.which(t) is None]
    staging = [p for p in ("/mnt", "/media", "/srv") if Path(p).is_dir()]
    if missing or not staging:
        what = ", ".join(missing) or "a staging directory (/mnt, /media or /srv)"
        return Check(
            "process sandbox",
            "warn",
            f"{what} missing: process jobs fail with SandboxError",
            "apt-get install util-linux (and mkdir /mnt)",
        )
    return ok("process sandbox", f"unshare, mount, setpriv; staging in {staging[0]}")


def check_ports() -> Check:
    """Ports chosen by configuration must be free; others are picked free at start."""
    for variable in ("CHAINLAKE_DEVCHAIN_PORT",):
        value = os.environ.get(variable)
        if value and not port_is_free(int(value)):
            return Check(
                "ports",
                "fail",
                f"port {value} ({variable}) is in use",
                f"stop what listens on 127.0.0.1:{value}, or unset {variable} (a free port is "
                "picked)",
            )
    return ok("ports", "free ports are picked on 127.0.0.1 at start")


def check_disk(settings: Settings) -> Check:
    place = settings.home if settings.home.exists() else settings.home.parent
    while not place.exists():
        place = place.parent
    free = shutil.disk_usage(place).free
    if free < MIN_FREE_BYTES:
        return Check("disk", "warn", f"{free >> 20} MB free under {place}", "free at least 1 GB")
    return ok("disk", f"{free >> 30} GB free under {place}")


def run_checks(settings: Settings | None = None) -> list[Check]:
    settings = settings or Settings.load()
    return [
        check_python(),
        check_postgres_binaries(),
        check_psql(),
        check_server_user(settings),
        check_data_dir(settings),
        check_node_tools(),
        check_podman(),
        check_sandbox(),
        check_ports(),
        check_disk(settings),
    ]
