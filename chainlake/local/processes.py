"""Background processes of the embedded stack (the runner, later the API and the devchain):
started detached with a pid file and a log under `.chainlake/run/`, stopped with SIGTERM (then
SIGKILL after a grace period), and reported by `chainlake status`.

A pid file records the process's start time (field 22 of /proc/PID/stat, in clock ticks since
boot) and its command line beside its pid. Pids are reused: a pid file whose pid now belongs to
a process started at another time is stale, its process is not "running", and nothing is ever
signalled through it. A pid file without a start time (written before this was recorded) cannot
be told apart from a reused pid by its time: it counts only while its process's command line
names this stack's home (each of the stack's processes is started with a path under it), and is
then rewritten with the start time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def started_at(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot), None when there is none or it is a
    zombie (ended, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (command name) "
    if fields[0] == "Z":
        return None
    return int(fields[19])


@dataclass(frozen=True)
class BackgroundProcess:
    name: str
    run_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the running process, or None (a stale pid file is removed)."""
        try:
            recorded = json.loads(self.pid_file.read_text())
            if isinstance(recorded, int):  # written before start times were recorded
                return self._adopt(recorded)
            pid, start = int(recorded["pid"]), int(recorded["started_at"])
        except (OSError, ValueError, TypeError, KeyError):
            self.pid_file.unlink(missing_ok=True)
            return None
        if started_at(pid) != start:  # ended, or its pid now belongs to another program
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def _adopt(self, pid: int) -> int | None:
        """A pid file of the old form (the pid alone): its process, if it is this stack's."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmdline = ""
        start = started_at(pid)
        if start is None or str(self.run_dir.parent) not in cmdline:
            self.pid_file.unlink(missing_ok=True)
            return None
        self.pid_file.write_text(json.dumps({"pid": pid, "started_at": start}) + "\n")
        return pid

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        """Start it unless it is running; return its pid."""
        running = self.pid()
        if running is not None:
            return running
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=env,
            )
        record = {"pid": proc.pid, "started_at": started_at(proc.pid), "argv": argv}
        self.pid_file.write_text(json.dumps(record) + "\n")
        return proc.pid

    def stop(self, grace_seconds: float = 30) -> bool:
        """SIGTERM (a runner drains), SIGKILL after the grace period. True if it was running.
        Each signal goes only to the process the pid file recorded (checked just before)."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        ends = time.monotonic() + grace_seconds
        while time.monotonic() < ends and self.pid() is not None:
            time.sleep(0.1)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        return True
