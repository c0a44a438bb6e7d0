"""The directories a job may write, made safely by a runner that may be root.

A path under the storage root is named in part by tenants (a job's template and version), and a
job may plant links in what it owns. So the runner:

- creates a job's writable directories fresh, walking down from the storage root through real
  directories only (every step opened with O_NOFOLLOW, so no symbolic link is followed), and
  gives a new one to the job's user at once, through its own descriptor;
- never chowns or chmods a path it did not create: a directory that exists already (a retry's
  output prefix) is used as it is;
- hands over a tree it has just filled itself (the work directory: scratch, chain inputs, the
  job folder's copy) entry by entry through descriptors, skipping symbolic links and refusing a
  file with a second name (st_nlink > 1), which would be someone else's file too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class WorkspaceError(Exception):
    """A job's directory could not be made or handed over safely (its run fails with this)."""


@dataclass(frozen=True)
class Owner:
    """Who a new directory is for: a uid (None: the runner itself) and its mode."""

    uid: int | None = None
    mode: int = 0o755


def make_directory(root: Path, path: Path, owner: Owner) -> bool:
    """Create `path` (inside `root`) with its missing parents, following no symbolic link below
    `root`; new parents are the runner's (0755), `path` itself, when new, is `owner`'s from the
    start. True when it was created here; an existing directory is left exactly as it is."""
    created, descriptor = _made(root, path, owner)
    os.close(descriptor)
    return created


def open_directory(root: Path, path: Path, owner: Owner | None = None) -> int:
    """`path` (inside `root`), made as make_directory makes it, opened: a descriptor of the
    directory reached through no symbolic link, for the caller to create files in with
    `dir_fd` (so nothing swapped in on the way meanwhile is followed) and to close."""
    return _made(root, path, owner or Owner())[1]


def _made(root: Path, path: Path, owner: Owner) -> tuple[bool, int]:
    parts = _inside(root, path).parts
    try:
        opened = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
    except OSError as exc:
        raise WorkspaceError(f"the storage root {root}: {exc.strerror or exc}") from exc
    try:
        created = False
        for depth, part in enumerate(parts, start=1):
            created = _mkdir(opened[-1], part, path)
            opened.append(_open_directory(opened[-1], part, path))
            if created:
                mine = depth < len(parts)
                if not mine and owner.uid is not None:
                    os.fchown(opened[-1], owner.uid, owner.uid)
                os.fchmod(opened[-1], 0o755 if mine else owner.mode)
        return created, opened.pop()
    finally:
        for descriptor in opened:
            os.close(descriptor)


def _inside(root: Path, path: Path) -> Path:
    inside, base = Path(os.path.normpath(path)), Path(os.path.normpath(root))
    if ".." in path.parts or not inside.is_relative_to(base) or inside == base:
        raise WorkspaceError(f"{path} is not a directory inside the storage root {root}")
    return inside.relative_to(base)


def _mkdir(parent: int, name: str, path: Path) -> bool:
    try:
        os.mkdir(name, 0o700, dir_fd=parent)  # nobody else's until its mode is set
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise WorkspaceError(f"cannot create {path}: {exc.strerror or exc}") from exc


def _open_directory(parent: int, name: str, path: Path) -> int:
    """`name` in `parent`, opened only if it is a real directory (never through a link)."""
    try:
        return os.open(name, DIRECTORY, dir_fd=parent)
    except OSError as exc:
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        why = "a symbolic link" if stat.S_ISLNK(mode) else (exc.strerror or str(exc))
        raise WorkspaceError(f"refused {path}: {name!r} on its way is {why}") from exc


def hand_over(tree: Path, uid: int) -> None:
    """Give `tree`, which the runner has just created and filled, to `uid`: each directory and
    regular file through its own descriptor (no symbolic link followed: links are skipped, as
    are other special files), and a file with more than one hard link refused (WorkspaceError)
    rather than changed."""
    for folder, _, files, descriptor in os.fwalk(tree, follow_symlinks=False):
        os.fchown(descriptor, uid, uid)
        for name in files:
            if not stat.S_ISREG(os.stat(name, dir_fd=descriptor, follow_symlinks=False).st_mode):
                continue
            handle = os.open(name, FILE, dir_fd=descriptor)
            try:
                links = os.fstat(handle).st_nlink
                if links > 1:
                    raise WorkspaceError(
                        f"refused {os.path.join(folder, name)}: a hard link (st_nlink {links}); "
                        "the runner hands over only files it created itself"
                    )
                os.fchown(handle, uid, uid)
            finally:
                os.close(handle)
