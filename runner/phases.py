"""Where an attempt's time went: claim (the task taken and the run started), launch (definition,
credentials, inputs staged or exported, the request), job (the launcher, until the job ended),
upload (outputs hashed, published and described, the manifest written) and commit (the
completion or failure recorded). One line in the runner's log per attempt, which bench/scaling
reads to name a bottleneck; an operator reads it the same way. With tracing on
(chainlake/tracing.py), the attempt and each of its phases are also spans of the run's trace."""

from __future__ import annotations

import logging
import threading
import time

from chainlake import tracing

log = logging.getLogger("chainlake.runner.phases")
PHASES = ("claim", "launch", "job", "upload", "commit")
_local = threading.local()


class Phases:
    """Laps of one attempt on one thread: each lap ends the phase named and starts the next."""

    def __init__(self, started: float | None = None) -> None:
        self.mark = started if started is not None else time.perf_counter()
        self.ms: dict[str, float] = {}
        # the same laps in wall-clock nanoseconds, for spans: (phase, start, end)
        self.wall = time.time_ns() - int((time.perf_counter() - self.mark) * 1e9)
        self.started_ns = self.wall
        self.laps: list[tuple[str, int, int]] = []

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.ms[phase] = self.ms.get(phase, 0.0) + (now - self.mark) * 1000
        self.mark = now
        wall = time.time_ns()
        self.laps.append((phase, self.wall, wall))
        self.wall = wall

    def line(self, run_id: str) -> str:
        laps = " ".join(f"{p}_ms={self.ms[p]:.1f}" for p in PHASES if p in self.ms)
        return f"attempt phases run={run_id} {laps}"


def begin(started: float | None = None) -> Phases:
    """The calling thread's attempt starts (at `started`, a perf_counter value, if given)."""
    phases = Phases(started)
    _local.phases = phases
    return phases


def lap(phase: str) -> None:
    """End `phase` of the calling thread's attempt (nothing when none was begun)."""
    phases: Phases | None = getattr(_local, "phases", None)
    if phases is not None:
        phases.lap(phase)


def end(run_id: str | None, trace_id: str | None = None) -> None:
    """Log the calling thread's attempt's phases and forget them; with tracing on and the run's
    `trace_id`, its spans too."""
    phases: Phases | None = getattr(_local, "phases", None)
    _local.phases = None
    if phases is not None and run_id and phases.ms:
        laps = {p: round(phases.ms[p], 1) for p in PHASES if p in phases.ms}
        log.info(phases.line(run_id), extra={"phases_ms": laps})  # the same, for jq
        if trace_id:
            tracing.record_attempt(trace_id, run_id, phases.started_ns, time.time_ns(), phases.laps)
