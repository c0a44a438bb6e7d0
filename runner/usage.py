"""What an attempt used, as its launcher measures it: CPU seconds (user + system) and peak
memory. A process job's figures come from the kernel's rusage of the child the launcher waits
for (its descendants it waited for included); a local podman container's from a cgroup made
for it (cgroup v1: cpuacct.usage and memory.max_usage_in_bytes, conmon included); where nothing
can be measured the figures are None (stored as NULL), never a made-up number."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("cpuacct", "memory")
CGROUP_PREFIX = "chainlake-usage-"


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    source: str  # how it was measured: rusage, cgroup, docker-stats, none


UNMEASURED = Usage(None, None, "none")


def reap(proc: subprocess.Popen[str]) -> tuple[int, Usage]:
    """Wait for `proc` (it must not have been waited for) and return its exit code and rusage."""
    _, status, used = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = used.ru_utime + used.ru_stime
    return proc.returncode, Usage(round(cpu, 3), used.ru_maxrss * 1024, "rusage")  # KiB


@dataclass
class CgroupMeter:
    """A cgroup (v1) a container is started under (`--cgroup-parent`), read after it ended."""

    name: str | None  # None: this machine gives no cgroup to measure in

    def usage(self) -> Usage:
        if self.name is None:
            return UNMEASURED
        cpu_ns = _read_int(CGROUP_ROOT / "cpuacct" / self.name / "cpuacct.usage")
        peak = _read_int(CGROUP_ROOT / "memory" / self.name / "memory.max_usage_in_bytes")
        cpu = None if cpu_ns is None else round(cpu_ns / 1e9, 3)
        return Usage(cpu, peak, "cgroup")


@contextmanager
def cgroup_meter() -> Iterator[CgroupMeter]:
    """A fresh cgroup (cgroup v1 cpuacct and memory, as root) for one container, removed with
    what podman made under it; a meter that measures nothing where none can be made."""
    name = CGROUP_PREFIX + secrets.token_hex(6)
    _sweep_stale()
    made: list[Path] = []
    try:
        for controller in V1_CONTROLLERS:
            path = CGROUP_ROOT / controller / name
            path.mkdir()
            made.append(path)
    except OSError:
        _remove(made)
        made = []
    try:
        yield CgroupMeter(name if made else None)
    finally:
        _remove(made)


REMOVE_SECONDS = 120.0  # conmon (and its `--rm` cleanup) may leave a while after podman run


def _remove(paths: list[Path]) -> None:
    """Remove cgroup directories, their children first (podman leaves conmon's and the
    container's); what a process still holds is retried in the background, 0.5 s apart for
    REMOVE_SECONDS, so the attempt never waits for conmon to leave."""
    if _remove_once(paths):
        return
    ends = time.monotonic() + REMOVE_SECONDS

    def retry() -> None:
        while time.monotonic() < ends and not _remove_once(paths):
            time.sleep(0.5)

    threading.Thread(target=retry, name="cgroup-cleanup", daemon=True).start()


STALE_SECONDS = 600.0


def _sweep_stale() -> None:
    """Remove the emptied cgroups of earlier attempts whose cleanup did not finish (their
    runner stopped first); an attempt's cgroup that still holds a process cannot be removed."""
    for controller in V1_CONTROLLERS:
        with contextlib.suppress(OSError):
            for path in (CGROUP_ROOT / controller).glob(CGROUP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    if time.time() - path.stat().st_mtime > STALE_SECONDS:
                        _remove_once([path])


def _remove_once(paths: list[Path]) -> bool:
    for path in paths:
        for directory, _, _ in sorted(os.walk(path), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
    return not any(path.exists() for path in paths)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


SAMPLE_SECONDS = 1.0  # between two samples of a remote engine's stats


@dataclass
class EngineSampler:
    """A container's usage on a remote Docker API engine, sampled while it runs (the engine
    keeps no figures of an exited container): the last CPU total seen (a lower bound: what
    ran after the last sample is missed) and the highest memory figure seen. None where the
    engine gave none."""

    cpu_ns: int | None = None
    peak: int | None = None
    last: float = float("-inf")

    def sample(self, api: Any, container_id: str) -> None:
        now = time.monotonic()
        if now - self.last < SAMPLE_SECONDS:
            return
        self.last = now
        try:
            stats = api.stats(container_id, stream=False, one_shot=True)
        except Exception:  # a missed sample is a figure less, never a failure
            return
        cpu = ((stats or {}).get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
        memory = (stats or {}).get("memory_stats") or {}
        seen = [v for v in (memory.get("max_usage"), memory.get("usage")) if isinstance(v, int)]
        if isinstance(cpu, int) and cpu > 0:
            self.cpu_ns = max(cpu, self.cpu_ns or 0)
        if seen and max(seen) > 0:
            self.peak = max([*seen, self.peak or 0])

    def usage(self) -> Usage:
        if self.cpu_ns is None and self.peak is None:
            return Usage(None, None, "docker-stats")
        cpu = None if self.cpu_ns is None else round(self.cpu_ns / 1e9, 3)
        return Usage(cpu, self.peak, "docker-stats")
