"""The process launcher's sandbox: namespaces, a filesystem view, and an unprivileged user.

A job started by the process launcher runs in new pid and mount namespaces (and a new, empty
network namespace unless it declares network access). In its mount namespace:

- the platform's state is hidden under empty tmpfs mounts: the chainlake home (its keys, the
  embedded Postgres and its socket), the storage root (every org's files), `/tmp`, `/var/tmp`,
  `/run`, home directories, and $CHAINLAKE_SANDBOX_HIDE (colon-separated paths);
- what the job needs is mounted back: its run's work directory and output prefix (read-write),
  its inputs' folders, its own folder, and the Python installation and packages the platform
  runs (read-only).

Then the job loses its privileges: a root runner's job runs as `nobody` with no capabilities; a
non-root runner's job enters one more user and mount namespace, which locks every mount above,
so it cannot unmount what hides the host.

The mounts are made by a short shell script (`mount`, `setpriv`, `unshare` from util-linux),
run inside the new namespaces before the job's own command.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

NOBODY = 65534
ALWAYS_HIDDEN = (
    "/root",
    "/home",
    "/tmp",  # noqa: S108 - hidden, not used
    "/var/tmp",  # noqa: S108 - hidden, not used
    "/run",
    "/var/lib/postgresql",
    "/dev/shm",  # noqa: S108 - the host's (Postgres') and other jobs' shared memory
    "/dev/mqueue",
)
# hidden places that every program expects to write: a private, empty one for each job
SCRATCH = {Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")}  # noqa: S108
STAGING_CANDIDATES = ("/mnt", "/media", "/srv")


@dataclass
class View:
    """What a job's filesystem hides, and what it shows back (read-only or read-write)."""

    hidden: set[Path] = field(default_factory=set)
    read_only: set[Path] = field(default_factory=set)
    read_write: set[Path] = field(default_factory=set)

    def hide(self, *paths: Path | str) -> View:
        self.hidden |= {Path(p).resolve() for p in paths if Path(p).is_dir()}
        return self

    def show(self, *paths: Path | str, writable: bool = False) -> View:
        target = self.read_write if writable else self.read_only
        target |= {Path(p).resolve() for p in paths if Path(p).is_dir()}
        return self


def platform_view(home: Path | None, storage_root: Path) -> View:
    """The platform's own state hidden; the interpreter and packages it runs shown back."""
    view = View().hide(*ALWAYS_HIDDEN, storage_root)
    if home is not None:
        view.hide(home)
    extra = os.environ.get("CHAINLAKE_SANDBOX_HIDE", "")
    view.hide(*(p for p in extra.split(":") if p))
    python = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).parent)}
    view.show(*python, *(p for p in sys.path if p and Path(p).is_dir()))
    return view


def _nearest(path: Path, among: set[Path]) -> Path | None:
    """The deepest of `among` that `path` lies in (itself excluded)."""
    enclosing = [p for p in among if p != path and path.is_relative_to(p)]
    return max(enclosing, key=lambda p: len(p.parts)) if enclosing else None


def mount_plan(view: View) -> list[tuple[str, Path]]:
    """("hide" | "ro" | "rw", path), parents before children, each only where it changes what
    the job sees: a hidden path inside a hidden one is hidden already; a shown path inside a
    shown one of the same mode is shown already."""
    mode = {p: "hide" for p in view.hidden}
    mode |= {p: "ro" for p in view.read_only}
    mode |= {p: "rw" for p in view.read_write}  # writable wins over read-only
    needed = []
    for path in sorted(mode, key=lambda p: (len(p.parts), str(p))):
        outer = _nearest(path, set(mode))
        if outer is None or mode[outer] != mode[path]:
            needed.append((mode[path], path))
    return needed


def _staging(view: View) -> Path | None:
    """A directory to hold the shown paths while the hidden ones are covered: one that no
    shown or hidden path lies in (its tmpfs exists in the job's namespace only)."""
    everything = view.hidden | view.read_only | view.read_write
    for candidate in map(Path, STAGING_CANDIDATES):
        if candidate.is_dir() and not any(p.is_relative_to(candidate) for p in everything):
            return candidate
    return None


def script(view: View, cwd: Path) -> str | None:
    """The shell script that builds the view, then drops privileges and runs "$@" in `cwd`.
    None when this machine cannot build it (no util-linux tools, no staging directory)."""
    stage = _staging(view)
    if stage is None or not all(shutil.which(t) for t in ("mount", "setpriv", "unshare")):
        return None
    q = shlex.quote
    mounts = mount_plan(view)
    lines = [
        "set -eu",
        "mount --make-rprivate /",
        f"mount -t tmpfs -o mode=0700,size=1m chainlake-stage {q(str(stage))}",
    ]
    staged: dict[Path, str] = {}
    for n, (kind, path) in enumerate(mounts):
        if kind != "hide":  # bound while every source is still in sight
            staged[path] = q(str(stage / str(n)))
            lines += [f"mkdir {staged[path]}", f"mount --bind {q(str(path))} {staged[path]}"]
    for kind, path in mounts:
        target = q(str(path))
        lines.append(f"mkdir -p {target}")
        if kind == "hide":
            mode = "1777" if path in SCRATCH else "0755"
            lines.append(f"mount -t tmpfs -o mode={mode},size=16m chainlake-hidden {target}")
        else:
            lines.append(f"mount --move {staged[path]} {target}")
            if kind == "ro":
                lines.append(f"mount -o remount,bind,ro {target}")
    lines += [f"umount {q(str(stage))}", f"cd {q(str(cwd))}"]
    if os.geteuid() == 0:
        lines.append(
            f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups --inh-caps=-all "
            '--bounding-set=-all --no-new-privs -- "$@"'
        )
    else:
        lines.append('exec unshare --user --map-root-user --mount -- "$@"')
    return "\n".join(lines)


PLATFORM_ROOT = Path(__file__).resolve().parent.parent  # the installation: its jobs/ folder


def job_roots(home: Path | None) -> list[Path]:
    """Where job folders may be: $CHAINLAKE_JOB_ROOTS (colon-separated), else the project
    directory (the one holding the chainlake home) and the platform's own installation (its
    example, demo and system jobs)."""
    configured = [p for p in os.environ.get("CHAINLAKE_JOB_ROOTS", "").split(":") if p]
    if configured:
        return [Path(p).resolve() for p in configured]
    return [PLATFORM_ROOT, *([home.resolve().parent] if home is not None else [])]


def check_job_folder(folder: Path, roots: list[Path], hidden: set[Path]) -> str | None:
    """Why a job may not run from `folder`, or None: it must lie in one of the runner's job
    roots, and not in anything the sandbox hides within that root (the chainlake home, the
    storage root)."""
    folder = folder.resolve()
    root = next((r for r in roots if folder.is_relative_to(r)), None)
    if root is None:
        return (
            f"the job folder {folder} is outside the runner's job roots "
            f"({', '.join(map(str, roots)) or 'none'}); set CHAINLAKE_JOB_ROOTS for the runner"
        )
    inside = sorted(h for h in hidden if folder.is_relative_to(h) and h.is_relative_to(root))
    if inside:
        return f"the job folder {folder} lies in {inside[0]}, which the sandbox hides"
    return None
