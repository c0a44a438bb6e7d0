"""Launchers: how a run's job is started. All speak the same contract (docs/job-contract.md):
the RunRequest in, an NDJSON stream of events out, plus an exit status.

- process: a sandboxed subprocess (own network and pid namespaces, rlimits, a scrubbed
  environment, a private temp dir).
- service: POST {endpoint}/run on a long-lived remote service through the guarded outbound
  client; the response body is the stream.
- container: podman with runc (chainlake/containers.py builds the images).

A tenant's job that declares `network: [host:port, ...]` reaches exactly those destinations
through its run's egress proxy (runner/egress.py), in both process and container launchers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from chainlake import outbound
from chainlake.containers import PODMAN
from chainlake.contract import problems, value_problem
from runner.egress import Egress, EgressError, Gate
from runner.sandbox import NOBODY, View, check_job_folder, script
from runner.usage import UNMEASURED, Usage, cgroup_meter, reap
from runner.workspace import Owner, WorkspaceError, hand_over, make_directory

Emit = Callable[[str], None]
# When the runner drains (its `stopping` event), always_on jobs (which never end by themselves)
# are asked to stop: SIGTERM, then SIGKILL after this grace; their supervisor restarts them later.
SHUTDOWN_GRACE_SECONDS = 5.0
# What an attempt that stopped being this runner's ends with (its heartbeat found the run
# cancelled, or another runner holding the attempt); nothing of it is recorded.
ABANDONED = "stopped: the run was cancelled, or another runner took this attempt over"


# A container's exit code after SIGKILL. When the runner did not send it (its deadline and
# shutdown kills are told apart), it came from the kernel's OOM killer: a job without
# capabilities can only receive one from itself, mislabelling nothing but its own failure.
SIGKILL_EXIT = 128 + signal.SIGKILL
PODMAN_ERROR = 125  # podman's own failure, before the container ran
DEFAULT_MEMORY_MB = 1024


@dataclass
class Outcome:
    exit_code: int | None  # None: the launcher ended it (timeout, out of memory) or never started
    reason: str = ""  # why the launcher ended it, or what went wrong starting it
    stderr_tail: str = ""
    kind: str = ""  # the error type when the launcher ended it for a known cause
    usage: Usage = UNMEASURED  # what the attempt used (runner/usage.py)


def memory_mb(spec: dict[str, Any]) -> int:
    """The job's memory limit (resources.memory_mb)."""
    return int(spec.get("resources", {}).get("memory_mb", DEFAULT_MEMORY_MB))


def out_of_memory(spec: dict[str, Any]) -> str:
    """What a user reads when a job passed its memory limit."""
    return f"out of memory (limit {memory_mb(spec)} MB, resources.memory_mb)"


class Launcher(Protocol):
    def launch(
        self,
        request: dict[str, Any],
        spec: dict[str, Any],
        workdir: Path,
        deadline: float,
        emit: Emit,
        stopping: threading.Event | None = None,
        abandon: threading.Event | None = None,
    ) -> Outcome: ...


# seconds past its deadline after which conmon kills a container (the runner kills it at the
# deadline; this holds when the runner died before)
ENGINE_DEADLINE_GRACE_S = 5


def engine_deadline(spec: dict[str, Any], deadline: float) -> list[str]:
    """`--timeout` for podman: the deadline enforced by the engine too, so a container whose
    runner died (killed, out of memory) still ends. Not for always_on jobs, which run until
    stopped."""
    remaining = deadline - time.monotonic()
    if spec.get("activation") == "always_on" or not math.isfinite(remaining):
        return []
    return ["--timeout", str(max(1, math.ceil(remaining)) + ENGINE_DEADLINE_GRACE_S)]


def _limits(resources: dict[str, Any]) -> Callable[[], None]:
    memory = int(resources.get("memory_mb", DEFAULT_MEMORY_MB)) * 1024 * 1024
    cpu = int(resources.get("cpu_seconds", 3600))
    output = int(resources.get("output_mb", 1024)) * 1024 * 1024

    def apply() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def sandbox_prefix(allow_network: bool) -> list[str]:
    """unshare: a new pid namespace always, a new (empty) network namespace unless allowed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    args = [unshare, "--pid", "--ipc", "--fork", "--mount-proc", "--kill-child"]
    if os.geteuid() != 0:
        args[1:1] = ["--user", "--map-root-user"]
    if not allow_network:
        args.append("--net")
    return [*args, "--"]


def _command(spec: dict[str, Any]) -> list[str]:
    command = list(spec["launcher"]["command"])
    if command[0] in ("python", "python3"):
        command[0] = sys.executable  # the platform's interpreter: same version, SDK importable
    return command


def stream_subprocess(
    argv: list[str],
    request: dict[str, Any],
    deadline: float,
    emit: Emit,
    kill: Callable[[subprocess.Popen[str]], None],
    stopping: threading.Event | None = None,
    abandon: threading.Event | None = None,
    **popen: Any,
) -> Outcome:
    """Start argv, write the RunRequest to its stdin, relay its stdout lines, keep its stderr
    tail, and `kill` it at the deadline, or at once when the attempt is `abandon`ed (the run was
    cancelled, or another runner took the attempt over)."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen,
        )
    except OSError as exc:
        return Outcome(None, f"could not start {argv[0]}: {exc}")
    stderr: list[str] = []
    err_reader = threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True)
    err_reader.start()
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
    except BrokenPipeError:
        pass
    timed_out = threading.Event()
    shut_down = threading.Event()
    abandoned = threading.Event()
    reaped = threading.Event()  # only reap() waits for the child: it reads its rusage

    def watchdog() -> None:
        while not reaped.is_set():
            if time.monotonic() >= deadline:
                timed_out.set()
                kill(proc)
                return
            if abandon is not None and abandon.is_set():
                abandoned.set()
                kill(proc)
                return
            if stopping is not None and stopping.is_set():
                shut_down.set()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                if not reaped.wait(SHUTDOWN_GRACE_SECONDS):
                    kill(proc)
                return
            time.sleep(0.05)

    threading.Thread(target=watchdog, daemon=True).start()
    for line in proc.stdout:
        emit(line)
    code, usage = reap(proc)
    reaped.set()
    err_reader.join(timeout=5)
    tail = "".join(stderr)[-4000:]
    if timed_out.is_set():
        return Outcome(None, "killed: past its timeout", tail, usage=usage)
    if abandoned.is_set():
        return Outcome(None, ABANDONED, tail, usage=usage)
    if shut_down.is_set():
        stopped = "stopped: the runner shut down (an always_on job restarts)"
        return Outcome(None, stopped, tail, usage=usage)
    return Outcome(code, "", tail, usage=usage)


PLATFORM_CREDENTIALS = ("chain_writer", "alert_sender")


def is_platform_job(spec: dict[str, Any]) -> bool:
    """A job of the platform's own (it holds a platform credential, which the runner hands
    only where Postgres allows: the system org's jobs)."""
    return bool(set(spec.get("secrets", [])) & set(PLATFORM_CREDENTIALS))


def network_mode(spec: dict[str, Any]) -> str:
    """How a job reaches the network: "none", not at all; "host", on the host's network (the
    platform's own jobs that declare one); "gated", from a namespace of its own, out only
    through its run's egress proxy (a tenant's job that declares one)."""
    if not spec.get("network"):
        return "none"
    return "host" if is_platform_job(spec) else "gated"


@contextmanager
def egress_gate(egress: Egress | None, spec: dict[str, Any], emit: Emit) -> Iterator[Gate | None]:
    """The run's egress gate when its network is gated, else None."""
    if network_mode(spec) != "gated":
        yield None
        return
    if egress is None:
        raise EgressError("this launcher has no egress proxy: a job with a network cannot run")
    with egress.gate(spec, emit) as gate:
        yield gate


class ProcessLauncher:
    """A sandboxed subprocess. With a `view` (the runner's platform_view), the job also gets
    the filesystem sandbox of runner/sandbox.py."""

    def __init__(
        self,
        view: View | None = None,
        roots: list[Path] | None = None,
        storage_root: Path | None = None,
        egress: Egress | None = None,
    ) -> None:
        self.view = view
        self.roots = roots or []
        self.storage_root = storage_root
        self.egress = egress

    def launch(
        self,
        request: dict[str, Any],
        spec: dict[str, Any],
        workdir: Path,
        deadline: float,
        emit: Emit,
        stopping: threading.Event | None = None,
        abandon: threading.Event | None = None,
    ) -> Outcome:
        tmp = workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(tmp),
            "LANG": "C.UTF-8",
            "CHAINLAKE_RUN_ID": request["run_id"],
            **request.get("credentials", {}),
        }
        cwd = Path(spec["launcher"].get("workdir") or workdir)
        argv = [*sandbox_prefix(network_mode(spec) != "none"), *_command(spec)]
        try:
            sandboxed = self._view(request, spec, workdir, cwd)
        except (SandboxError, WorkspaceError) as exc:
            return Outcome(None, str(exc), kind="SandboxError")
        if sandboxed is not None:
            view, cwd = sandboxed
            argv[argv.index("--") + 1 : argv.index("--") + 1] = ["/bin/sh", "-c", view, "job"]
        try:
            with egress_gate(self.egress, spec, emit) as gate:
                return stream_subprocess(
                    [*(gate.enter() if gate else []), *argv],
                    request,
                    deadline,
                    emit,
                    _kill_group,
                    stopping=stopping if spec.get("activation") == "always_on" else None,
                    abandon=abandon,
                    cwd=str(cwd),
                    env=env | (gate.env() if gate else {}),
                    preexec_fn=_limits(spec.get("resources", {})),
                )
        except EgressError as exc:
            return Outcome(None, str(exc), kind="SandboxError")

    def _view(
        self, request: dict[str, Any], spec: dict[str, Any], workdir: Path, cwd: Path
    ) -> tuple[str, Path] | None:
        """The filesystem sandbox's script for this run (runner/sandbox.py) and the job's
        working directory in it; None for the platform's own jobs (they hold platform
        credentials and write the platform's storage); SandboxError where the machine cannot
        build one."""
        if self.view is None or is_platform_job(spec):
            return None
        job_user = NOBODY if os.geteuid() == 0 else None  # a root runner's job runs as nobody
        output = output_directory(self.storage_root, request, Owner(job_user))
        view = View(set(self.view.hidden), set(self.view.read_only), set(self.view.read_write))
        if cwd != workdir:
            refused = check_job_folder(cwd, self.roots, view.hidden)
            if refused:
                raise SandboxError(refused)
            if os.geteuid() == 0:  # nobody may not read the job's own folder: a copy it owns
                cwd = copy_job_folder(cwd, workdir / "job", view.hidden)
        view.show(workdir, output, writable=True).show(cwd)
        for item in request.get("inputs", []):
            view.show(*(Path(unquote(urlparse(u).path)).parent for u in item.get("uris", [])))
        if job_user is not None:  # the work directory: made and filled by the runner just now
            hand_over(workdir, job_user)
        built = script(view, cwd)
        if built is None:  # fail closed: never run a job with the platform's files in sight
            raise SandboxError(
                "the process sandbox cannot be built on this machine: it needs util-linux "
                "(mount, setpriv, unshare) and one of /mnt, /media or /srv"
            )
        return built, cwd


class SandboxError(Exception):
    """The job's sandbox could not be built (its run fails with this, not retried)."""


def output_directory(storage_root: Path | None, request: dict[str, Any], owner: Owner) -> Path:
    """The run's output directory, created fresh for `owner` under the storage root through no
    link (runner/workspace.py), or the one a previous attempt made, left as it is."""
    output = Path(unquote(urlparse(request["output_prefix"]).path))
    if storage_root is None:
        raise SandboxError("this launcher has no storage root to create the run's output in")
    make_directory(storage_root, output, owner)
    return output


JOB_FOLDER_LIMIT_BYTES = 256 * 1024 * 1024


def copy_job_folder(folder: Path, into: Path, hidden: set[Path]) -> Path:
    """The job's folder, copied into its run's work directory (owned by the job's user there),
    without what the sandbox hides (a chainlake home inside the folder) or the copy itself;
    SandboxError when it holds more than JOB_FOLDER_LIMIT_BYTES."""
    skip = {h for h in hidden if h.is_relative_to(folder)} | {into.resolve()}

    def left_out(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if (Path(directory) / n).resolve() in skip]

    size = 0
    for directory, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in left_out(directory, dirs)]
        size += sum(os.lstat(os.path.join(directory, f)).st_size for f in files)
        if size > JOB_FOLDER_LIMIT_BYTES:
            raise SandboxError(
                f"the job folder {folder} holds more than the {JOB_FOLDER_LIMIT_BYTES >> 20} MB "
                "a sandboxed process job's folder is copied with; use the container launcher "
                "(its image holds the folder)"
            )
    if not into.exists():
        try:
            shutil.copytree(folder, into, symlinks=True, ignore=left_out)
        except (OSError, shutil.Error) as exc:
            raise SandboxError(f"the job folder {folder} could not be copied: {exc}"[:500]) from exc
    return into


CONTAINER_USER = 65534  # nobody
# podman splits a --volume value at ':' (and its options at ','): a folder holding either, or a
# control character, would add mounts or options of its own
UNMOUNTABLE = re.compile(r"[:,\x00-\x1f\x7f]")


class ContainerLauncher:
    """podman with runc: read-only root, no network unless declared (then its run's egress
    namespace, `--network ns:`; the host's only for the platform's own jobs; never a bridge),
    memory, CPU and pid limits, no capabilities, an unprivileged user, and only the run's
    output directory (read-write) and its inputs' directories (read-only) mounted.

    Nothing a tenant sets is read as an option of podman's: the image must be a plain reference
    (checked again here), it comes after `--`, and mounted folders may not hold ':' or ','."""

    def __init__(self, storage_root: Path | None = None, egress: Egress | None = None) -> None:
        self.storage_root = storage_root
        self.egress = egress

    def launch(
        self,
        request: dict[str, Any],
        spec: dict[str, Any],
        workdir: Path,
        deadline: float,
        emit: Emit,
        stopping: threading.Event | None = None,
        abandon: threading.Event | None = None,
    ) -> Outcome:
        try:
            with egress_gate(self.egress, spec, emit) as gate, cgroup_meter() as meter:
                outcome = self._launch(
                    request, spec, workdir, deadline, emit, stopping, gate, abandon, meter.name
                )
                return dataclasses.replace(outcome, usage=meter.usage())  # not podman's own
        except EgressError as exc:
            return Outcome(None, str(exc), kind="SandboxError")

    def _launch(
        self,
        request: dict[str, Any],
        spec: dict[str, Any],
        workdir: Path,
        deadline: float,
        emit: Emit,
        stopping: threading.Event | None,
        gate: Gate | None,
        abandon: threading.Event | None = None,
        cgroup: str | None = None,
    ) -> Outcome:
        launcher, resources = spec["launcher"], spec.get("resources", {})
        name = f"chainlake-{request['run_id']}-{request['attempt']}"
        try:
            mounts = self._mounts(request, spec)
        except (SandboxError, WorkspaceError) as exc:
            return Outcome(None, str(exc), kind="SandboxError")
        env = {"CHAINLAKE_RUN_ID": request["run_id"], **request.get("credentials", {})}
        env |= gate.env() if gate else {}
        argv = [
            *PODMAN,
            "run",
            "-i",
            "--rm",
            "--name",
            name,
            "--read-only",
            "--tmpfs",
            "/tmp",  # noqa: S108 - the container's own tmpfs
            "--network",
            f"ns:{gate.netns}" if gate else network_mode(spec),
            "--memory",
            f"{memory_mb(spec)}m",
            "--memory-swap",  # the same: no swap beyond the limit (podman's default doubles it)
            f"{memory_mb(spec)}m",
            "--cpus",
            str(resources.get("cpus", 1)),
            "--pids-limit",
            "256",
            "--cap-drop",
            "all",
            "--security-opt",
            "no-new-privileges",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--user",
            f"{CONTAINER_USER}:{CONTAINER_USER}",
            *(f"--env={k}" for k in env),  # values come from podman's environment, not argv
            *mounts,
            "--pull=never",  # images are built here: an image never makes podman reach a registry
            *([f"--cgroup-parent=/{cgroup}"] if cgroup else []),  # measured there (usage.py)
            *engine_deadline(spec, deadline),
            *podman_tail(launcher),
        ]

        def kill(_: subprocess.Popen[str]) -> None:
            subprocess.run([*PODMAN, "kill", name], capture_output=True, check=False)

        outcome = stream_subprocess(
            argv,
            request,
            deadline,
            emit,
            kill,
            stopping=stopping if spec.get("activation") == "always_on" else None,
            abandon=abandon,
            env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **env},
            cwd=str(workdir),  # conmon leaves an `oom` marker file in its working directory
        )
        if outcome.exit_code == SIGKILL_EXIT:  # runc on cgroup v1 leaves State.OOMKilled false
            oom = f"killed: {out_of_memory(spec)}"
            return Outcome(None, oom, outcome.stderr_tail, "OutOfMemory", outcome.usage)
        if outcome.exit_code == PODMAN_ERROR and "image not known" in outcome.stderr_tail:
            return image_missing(launcher["image"])
        return outcome

    def _mounts(self, request: dict[str, Any], spec: dict[str, Any]) -> list[str]:
        """The run's output directory (created fresh for the container's user, never chmodded
        when it exists) and its inputs' folders, as podman arguments; SandboxError for an image
        or a folder podman would read as options."""
        refused = value_problem("launcher.image", spec["launcher"].get("image"))
        if refused:
            raise SandboxError(refused)
        folders = [Path(unquote(urlparse(request["output_prefix"]).path))]
        for item in request.get("inputs", []):
            for uri in item.get("uris", []):
                if urlparse(uri).scheme == "file":
                    folders.append(Path(unquote(urlparse(uri).path)).parent)
        unsafe = [f for f in folders if UNMOUNTABLE.search(str(f))]
        if unsafe:
            raise SandboxError(
                f"refused to mount {unsafe[0]}: a mounted folder may not hold ':' or ',' or "
                "control characters (podman would read them as more mounts or options)"
            )
        root = os.geteuid() == 0  # a rootless podman maps the container's nobody elsewhere
        owner = Owner(CONTAINER_USER) if root else Owner(mode=0o777)
        output_dir = output_directory(self.storage_root, request, owner)
        mounts = [f"--volume={output_dir}:{output_dir}:rw"]
        for folder in dict.fromkeys(folders[1:]):
            mounts.append(f"--volume={folder}:{folder}:ro")
        return mounts


def image_missing(image: str) -> Outcome:
    """The outcome of a job whose image its engine does not hold (never pulled)."""
    return Outcome(
        None,
        f"image {image} is not on this runner: images are never pulled; "
        "build it with `chainlake image build FILE`",
        kind="ImageMissing",
    )


def podman_tail(launcher: dict[str, Any]) -> list[str]:
    """What follows podman's own options: `--`, then the image and its command, which are the
    container's (podman reads no option of its own past `--`)."""
    return ["--", launcher["image"], *launcher.get("command", [])]


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


SERVICE_LINE_LIMIT = 1 << 20  # bytes of one event line
SERVICE_STREAM_LIMIT = 256 << 20  # bytes of a whole answer
NDJSON = "application/x-ndjson"


class ServiceLauncher:
    """POST {endpoint}/run through the guarded outbound client: the endpoint is held to the rule
    of every outbound call made for a tenant (never the platform's own services; no loopback,
    private or metadata address unless the operator allows that host:port), and only the
    answer's events reach the run. Another status or content type fails the run, and lines that
    are not events are counted, never shown: a service's other output is not the tenant's."""

    def __init__(self, egress: Egress | None = None) -> None:
        self.egress = egress

    def launch(
        self,
        request: dict[str, Any],
        spec: dict[str, Any],
        workdir: Path,
        deadline: float,
        emit: Emit,
        stopping: threading.Event | None = None,
        abandon: threading.Event | None = None,
    ) -> Outcome:
        if self.egress is None:
            return Outcome(None, "this launcher has no egress policy", kind="EgressRefused")
        endpoint = spec["launcher"]["endpoint"].rstrip("/") + "/run"
        body = json.dumps(request).encode()
        headers = {"Content-Type": "application/json", "Accept": NDJSON}
        try:
            with outbound.request(
                self.egress.policy(),
                "POST",
                endpoint,
                body,
                headers,
                timeout=max(0.1, deadline - time.monotonic()),
            ) as response:
                if response.status != 200:
                    return Outcome(None, f"the service answered HTTP {response.status}")
                if response.headers.get_content_type() != NDJSON:
                    kind = response.headers.get_content_type()
                    return Outcome(None, f"the service answered {kind}, not {NDJSON}")
                return relay_events(response, emit, deadline, abandon)
        except outbound.Refused as exc:
            return Outcome(None, str(exc), kind="EgressRefused")
        except outbound.Failed as exc:
            if time.monotonic() >= deadline:
                return Outcome(None, "killed: past its timeout")
            return Outcome(None, f"the service failed: {exc}")


def relay_events(
    response: Any, emit: Emit, deadline: float, abandon: threading.Event | None = None
) -> Outcome:
    """Emit each line of a service's answer that is an event of the contract; count the rest
    and say how many there were, never what they said."""
    read, dropped = 0, 0
    while line := response.readline(SERVICE_LINE_LIMIT + 1):
        read += len(line)
        if len(line) > SERVICE_LINE_LIMIT or read > SERVICE_STREAM_LIMIT:
            return Outcome(
                None,
                f"the service sent more than {SERVICE_LINE_LIMIT >> 20} MB in "
                f"a line or {SERVICE_STREAM_LIMIT >> 20} MB in all",
            )
        text = line.decode(errors="replace")
        if is_event(text):
            emit(text)
        elif text.strip():
            dropped += 1
        if time.monotonic() >= deadline:
            return Outcome(None, "killed: past its timeout")
        if abandon is not None and abandon.is_set():  # closing the answer ends the request
            return Outcome(None, ABANDONED)
    if dropped:
        said = "line that is not an event" if dropped == 1 else "lines that are not events"
        note = f"the service sent {dropped} {said} (not shown)"
        emit(json.dumps({"type": "log", "level": "warning", "message": note}) + "\n")
    return Outcome(0)


def is_event(line: str) -> bool:
    """A line that is one event of the contract."""
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return isinstance(event, dict) and not problems("event", event)


def launchers(
    egress: Egress | None = None,
    view: View | None = None,
    roots: list[Path] | None = None,
    storage_root: Path | None = None,
    container_engine: str = "podman",
) -> dict[str, Launcher]:
    """A runner's launchers, by launcher kind; `container` on the local podman, or on the
    Docker API at `container_engine` (runner/docker_engine.py; EngineUnreachable if it does not
    answer)."""
    container: Launcher = ContainerLauncher(storage_root, egress)
    if container_engine != "podman":
        from runner.docker_engine import DockerLauncher  # it builds on this module

        container = DockerLauncher(container_engine, storage_root, container)
    return {
        "process": ProcessLauncher(view, roots, storage_root, egress),
        "service": ServiceLauncher(egress),
        "container": container,
    }
