"""A private Postgres cluster in a directory: initdb, start, stop, status.

Used by `chainlake up` (under `.chainlake/pg`) and by the test harness (under a temp dir). When
run as root, the server runs as the `postgres` OS user, which must be able to reach the data
directory; if it cannot, the data lives in a postgres-owned directory and a symlink points to it.
The unix socket lives inside the data directory (mode 0700), so only its owner can reach it;
TCP listens on 127.0.0.1 only and asks for a password (a test topology may give other addresses
to listen on, clients allowed from a network, and a network namespace to start the server in).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from chainlake.errors import StackError

SUPERUSER = "postgres"
CONF_NAME = "chainlake.conf"
FALLBACK_ROOT = Path("/var/lib/chainlake")

# Settings for a throwaway test cluster: durability traded for speed.
TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
}
DEV_SETTINGS = {"max_connections": "200"}


def pg_bindir() -> Path:
    """The directory holding initdb/pg_ctl/postgres: $CHAINLAKE_PG_BINDIR, Debian's newest, PATH."""
    env = os.environ.get("CHAINLAKE_PG_BINDIR")
    if env:
        return Path(env)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise StackError(
        "PostgreSQL server binaries not found",
        "install them (Debian: apt-get install postgresql-15) or set CHAINLAKE_PG_BINDIR",
    )


def server_version(bindir: Path) -> str:
    """The binaries' version (e.g. "15.18"), or "unknown"."""
    done = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    found = re.search(r"\(PostgreSQL\) ([0-9][0-9.]*)", done.stdout)
    return found.group(1) if found else "unknown"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _running_as_root() -> bool:
    return os.geteuid() == 0


@dataclass
class LocalPostgres:
    """A cluster whose files live in `base` (data dir `base/data`, log `base/postgres.log`)."""

    base: Path
    settings: dict[str, str]
    listen: str = "127.0.0.1"  # listen_addresses
    clients: str | None = None  # a further network (CIDR) whose clients log in with a password
    netns: Path | None = None  # the network namespace (/run/netns/NAME) the server runs in

    @property
    def home(self) -> Path:
        """Where the cluster's files really are: `base`, or where its symbolic link points (the
        postgres user may not be able to pass through the path of the link itself)."""
        return self.base.resolve()

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    @property
    def password_file(self) -> Path:
        return self.base / "superuser.password"

    # -- running commands as the cluster's owner -------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if _running_as_root():
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        if self.netns is not None:  # entered as root, then the owner's command runs inside
            cmd = ["nsenter", f"--net={self.netns}", *cmd]
        # from "/": the server's tools change back to their working directory, which the
        # postgres user may not be allowed to enter (a root-only checkout)
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd="/")
        if check and result.returncode != 0:
            raise StackError(
                f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()}",
                f"see {self.log_file}",
            )
        return result

    def _chown(self, path: Path) -> None:
        if _running_as_root():
            entry = pwd.getpwnam(SUPERUSER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def owner_can_reach(self, path: Path) -> bool:
        if not _running_as_root():
            return True
        probe = subprocess.run(
            ["runuser", "-u", SUPERUSER, "--", "test", "-x", str(path)], check=False, cwd="/"
        )
        return probe.returncode == 0

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb on first use; afterwards a no-op."""
        if self.initialized:
            return
        self.base.parent.mkdir(parents=True, exist_ok=True)
        if not self.base.exists():
            if self.owner_can_reach(self.base.parent):
                self.base.mkdir()
            else:
                # The postgres user cannot traverse the project directory: keep the files where
                # it can, and leave a symlink where users look for them.
                digest = hashlib.sha256(str(self.base.resolve()).encode()).hexdigest()[:16]
                real = FALLBACK_ROOT / digest
                real.mkdir(parents=True, exist_ok=True)
                FALLBACK_ROOT.chmod(0o755)
                self.base.symlink_to(real)
        self._chown(self.base)
        self.base.chmod(0o755)
        password = secrets.token_urlsafe(24)
        pwfile = self.home / ".initdb-pw"
        pwfile.write_text(password + "\n")
        self._chown(pwfile)
        try:
            self._run(
                str(pg_bindir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = '{CONF_NAME}'\n")
        if self.clients:
            with (self.data_dir / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.clients} scram-sha-256\n")
        self._write_conf(free_port())

    def _write_conf(self, port: int) -> None:
        lines = {
            "port": str(port),
            "listen_addresses": f"'{self.listen}'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            **{k: v for k, v in self.settings.items()},
        }
        text = "".join(f"{k} = {v}\n" for k, v in lines.items())
        conf = self.data_dir / CONF_NAME
        conf.write_text("# written by chainlake; edits are overwritten\n" + text)
        self._chown(conf)

    @property
    def port(self) -> int:
        for line in (self.data_dir / CONF_NAME).read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "port":
                return int(value.strip())
        raise StackError(f"no port in {self.data_dir / CONF_NAME}")

    @property
    def superuser_password(self) -> str:
        return self.password_file.read_text().strip()

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        result = self._run(
            str(pg_bindir() / "pg_ctl"), "-D", str(self.data_dir), "status", check=False
        )
        return result.returncode == 0

    def version_mismatch(self) -> StackError | None:
        """Why the binaries cannot start this data directory (made by another major version)."""
        made_by = (self.data_dir / "PG_VERSION").read_text().strip()
        bindir = pg_bindir()
        ours = server_version(bindir)
        if ours.split(".")[0] == made_by:
            return None
        return StackError(
            f"the data directory {self.data_dir} was made by PostgreSQL {made_by}; the binaries "
            f"in {bindir} are {ours}",
            f"start it with PostgreSQL {made_by}'s binaries (CHAINLAKE_PG_BINDIR), or move "
            f"{self.base} away to start afresh (its data stays there)",
        )

    def start(self) -> None:
        """Start the server if it is not running; pick a new port if the old one is taken."""
        if self.initialized:
            problem = self.version_mismatch()
            if problem:
                raise problem
        self.init()
        if self.is_running():
            return
        if not port_is_free(self.port):
            self._write_conf(free_port())
        if not self.log_file.exists():
            self.log_file.touch()
            self._chown(self.log_file)
        self._run(
            str(pg_bindir() / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        if self.is_running():
            self._run(
                str(pg_bindir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
            )

    def destroy(self) -> None:
        """Stop and delete every file of the cluster (test clusters only)."""
        self.stop()
        target = self.base.resolve()
        if self.base.is_symlink():
            self.base.unlink()
        shutil.rmtree(target, ignore_errors=True)

    def postmaster_pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    # -- addresses --------------------------------------------------------------------------
    def socket_url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        """A libpq URL over the unix socket (trust auth: the socket dir is the owner's only)."""
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{quote(user)}@/{database}?host={host}&port={self.port}"

    def tcp_url(self, database: str = "postgres") -> str:
        password = quote(self.superuser_password, safe="")
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"
