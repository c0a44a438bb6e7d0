"""The `container` launcher on a remote engine that speaks the Docker Engine API (dockerd, or
`podman system service`), chosen by the operator (`--container-engine ADDRESS`), never by a
tenant: an engine address is the key to root on that host.

The engine is another host, so nothing of the runner's disk is mounted. Per attempt:

- a volume of its own is created and mounted at /chainlake; the attempt's input files go into
  it over the API (put_archive, which works on a read-only root filesystem because the path is
  a volume), with `output/` owned by the container's user;
- the RunRequest, the same contract, names those paths: input URIs under
  file:///chainlake/inputs/, the output prefix file:///chainlake/output/; it is written to the
  container's stdin (attached, with its stdout, before it starts);
- the container's stdout lines are the job's events, streamed back as they come, their output
  URIs mapped back onto the runner's local output prefix;
- after the container exits 0, the output directory comes back over the API (get_archive),
  bounded in size, and is unpacked into the runner's local output prefix (directories and
  regular files only: a link or a special file refuses the run), where the runner's checks and
  publication take over as for a local job;
- the container and its volume are removed in every case.

The sandbox is the local launcher's: no network, read-only root, /tmp a tmpfs, memory (= swap),
cpus, 256 pids, no capabilities, no-new-privileges, nofile/nproc limits, user 65534; images are
never pulled. A job that declares a network is refused (its egress proxy lives on the runner);
the platform's own jobs run on the local engine (runner/launchers.py's ContainerLauncher).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import stat
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import Mount, Ulimit
from docker.utils.socket import STDOUT, frames_iter

from chainlake.contract import value_problem
from runner.launchers import (
    ABANDONED,
    CONTAINER_USER,
    SERVICE_LINE_LIMIT,
    SHUTDOWN_GRACE_SECONDS,
    SIGKILL_EXIT,
    Emit,
    Launcher,
    Outcome,
    image_missing,
    is_platform_job,
    memory_mb,
    out_of_memory,
)
from runner.usage import EngineSampler
from runner.workspace import Owner, WorkspaceError, make_directory, open_directory

SCHEMES = ("tcp", "ssh", "unix")
PING_SECONDS = 5.0
CALL_SECONDS = 60
MOUNT = "/chainlake"  # the attempt's volume, inside the container
INPUTS = f"{MOUNT}/inputs"
OUTPUT = f"{MOUNT}/output"
OUTPUT_PREFIX = f"file://{OUTPUT}/"
POLL_SECONDS = 0.25
# consecutive failed calls to the engine after which it is taken as gone (the attempt is retried)
ENGINE_MISSES = 4
DEFAULT_OUTPUT_MB = 1024  # resources.output_mb, as the process launcher's file-size limit
BLOCK = 1 << 20
LINE_LIMIT = SERVICE_LINE_LIMIT  # bytes of one event line, as a service's
TAIL_BYTES = 16000  # of stderr read back
TAIL_CHARACTERS = 4000  # of stderr kept with a failure
ENGINE_FAULTS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)


# (org id, run id, attempt) -> whether that attempt is over (None: not known here, left alone)
Outlived = Callable[[str, str, int], "bool | None"]


class EngineUnreachable(Exception):
    """The configured engine does not answer as a Docker API (the runner does not start)."""


class EngineGone(Exception):
    """The engine stopped answering during an attempt (the attempt is retried)."""


class OutputRefused(Exception):
    """The output archive holds what the runner does not unpack (the run fails, named)."""


def connect(address: str, timeout: float = PING_SECONDS) -> docker.DockerClient:
    """A client of the engine at `address` (tcp://HOST:PORT, ssh://USER@HOST, unix:///PATH),
    pinged once; EngineUnreachable with one line naming it and what to check."""
    scheme = urlparse(address).scheme
    if scheme not in SCHEMES:
        raise EngineUnreachable(
            f"container engine {address!r} is not an address: use podman (the local engine), "
            "tcp://HOST:PORT, ssh://USER@HOST or unix:///PATH"
        )
    try:
        client = docker.DockerClient(
            base_url=address,
            timeout=int(timeout),
            use_ssh_client=scheme == "ssh",
            max_pool_size=32,
        )
        if client.ping() is not True:
            raise DockerException("its /_ping did not answer OK")
    except (DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise EngineUnreachable(
            f"container engine {address}: {_reason(exc, timeout)}; check that dockerd or "
            "`podman system service` listens there and that this host reaches it"
        ) from None
    client.api.timeout = CALL_SECONDS
    return client


def _reason(exc: BaseException, timeout: float) -> str:
    """Why an engine did not answer, in a few words (the client's own text is pages long)."""
    text = f"{exc!r} {exc.__context__!r}"
    if "Timeout" in text or "timed out" in text:
        return f"no answer within {timeout:g} s"
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused (nothing listens there)"
    if "FileNotFoundError" in text:
        return "no such socket"
    if "No route" in text or "unreachable" in text or "Name or service" in text:
        return "the host cannot be reached"
    return "it does not answer as a Docker Engine API"


class DockerLauncher:
    """Each attempt in a container on the remote engine at `address` (see the module's text)."""

    def __init__(self, address: str, storage_root: Path | None, local: Launcher) -> None:
        self.address = address
        self.storage_root = storage_root
        self.local = local  # the platform's own jobs keep to the runner's own engine
        self.client = connect(address)
        # log streams wait for the next line as long as a job is quiet: no read timeout; the
        # polls that watch a container give up soon, so a silent engine is noticed
        self.streams = self._client(cast(int, None))  # requests' "no read timeout"
        self.watcher = self._client(int(PING_SECONDS))

    def reap(self, outlived: Outlived) -> list[str]:
        """Remove what the engine still holds of attempts that are over (their runner went away
        while they ran: killed, its host lost), whichever runner started them: each container
        labelled as an attempt and its volume, when `outlived(org, run, attempt)` says so. The
        deadline lives in the runner that started a container; this is how a container whose
        runner died ends. The names removed."""
        removed = []
        label = {"label": "chainlake.run"}
        held = self.watcher.api.containers(all=True, filters=label)
        volumes = self.watcher.api.volumes(filters=label).get("Volumes") or []
        for found in [*held, *volumes]:
            name = found.get("Name") or (found.get("Names") or ["?"])[0].lstrip("/")
            labels = found.get("Labels") or {}
            try:
                attempt = int(labels.get("chainlake.attempt", ""))
                over = outlived(labels["chainlake.org"], labels["chainlake.run"], attempt)
            except (KeyError, ValueError):
                continue  # not one of ours as we label them: left alone
            if over is not True:
                continue
            with contextlib.suppress(APIError):  # gone meanwhile, or busy: the next round
                if "Id" in found:
                    self.watcher.api.remove_container(found["Id"], force=True, v=True)
                else:
                    self.watcher.api.remove_volume(found["Name"], force=True)
                removed.append(name)
        return removed

    def _client(self, timeout: int) -> docker.DockerClient:
        return docker.DockerClient(
            base_url=self.address,
            timeout=timeout,
            version=self.client.api.api_version,
            use_ssh_client=urlparse(self.address).scheme == "ssh",
            max_pool_size=32,
        )

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
        if is_platform_job(spec):
            return self.local.launch(request, spec, workdir, deadline, emit, stopping, abandon)
        if spec.get("network"):
            return Outcome(
                None,
                f"refused: the job declares a network, and jobs on the remote container engine "
                f"{self.address} have none (a run's egress proxy lives on its runner); run it "
                "as a process job, or on a runner with the local engine",
                kind="SandboxError",
            )
        refused = value_problem("launcher.image", spec["launcher"].get("image"))
        if refused:
            return Outcome(None, refused, kind="SandboxError")
        if self.storage_root is None:
            return Outcome(None, "this launcher has no storage root", kind="SandboxError")
        always_on = spec.get("activation") == "always_on"
        attempt = Attempt(self, request, spec, workdir, emit)
        try:
            return attempt.run(deadline, stopping if always_on else None, abandon)
        except (EngineGone, *ENGINE_FAULTS) as exc:
            return Outcome(
                None,
                f"the container engine {self.address} stopped answering during the run "
                f"({_first_line(exc)}); the run is retried",
                attempt.stderr,
                "EngineUnavailable",
            )
        except OutputRefused as exc:
            return Outcome(None, str(exc), attempt.stderr, "OutputRejected")
        except WorkspaceError as exc:
            return Outcome(None, str(exc), attempt.stderr, "SandboxError")
        except DockerException as exc:
            return Outcome(None, f"the container engine {self.address} refused: {_first_line(exc)}")
        finally:
            attempt.remove()


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


@dataclass
class Attempt:
    """One attempt's container and volume on the engine."""

    launcher: DockerLauncher
    request: dict[str, Any]
    spec: dict[str, Any]
    workdir: Path
    emit: Emit
    stderr: str = ""
    container_id: str | None = None
    volume: str | None = None
    killed: str = ""  # why the runner ended it ("" when it ended by itself)
    killed_kind: str = ""  # the error type, when the reason is a known one
    stream: Any = None
    relay: threading.Thread | None = field(default=None)
    sampler: EngineSampler = field(default_factory=EngineSampler)  # its usage, while it runs

    @property
    def name(self) -> str:
        return f"chainlake-{self.request['run_id']}-{self.request['attempt']}"

    @property
    def labels(self) -> dict[str, str]:
        return {
            "chainlake.run": self.request["run_id"],
            "chainlake.attempt": str(self.request["attempt"]),
            "chainlake.org": self.request["org"]["id"],
        }

    @property
    def api(self) -> Any:
        return self.launcher.client.api

    def run(
        self,
        deadline: float,
        stopping: threading.Event | None,
        abandon: threading.Event | None,
    ) -> Outcome:
        image = self.spec["launcher"]["image"]
        try:
            self.launcher.client.images.get(image)  # never a pull
        except ImageNotFound:
            return image_missing(image)
        self.remove_earlier()
        inputs, request = self.rewritten()
        self.volume = self.api.create_volume(self.name, labels=self.labels)["Name"]
        self.container_id = self.create()
        self.api.put_archive(self.container_id, MOUNT, inputs)
        self.start(request)
        code = self.wait(deadline, stopping, abandon)
        self.stderr = self.stderr_tail()
        used = self.sampler.usage()
        if self.killed:
            return Outcome(None, self.killed, self.stderr, self.killed_kind, used)
        if code == SIGKILL_EXIT:  # podman's API reports OOMKilled false: 137 is the kernel's
            oom = f"killed: {out_of_memory(self.spec)}"
            return Outcome(None, oom, self.stderr, "OutOfMemory", used)
        if code == 0:
            self.fetch_outputs()
        return Outcome(code, "", self.stderr, usage=used)

    # -- before it starts -----------------------------------------------------------------
    def remove_earlier(self) -> None:
        """Containers and volumes an earlier attempt of this run left on the engine (it went
        away while they ran): removed before this attempt starts."""
        label = f"chainlake.run={self.request['run_id']}"
        for found in self.api.containers(all=True, filters={"label": label}):
            with contextlib.suppress(NotFound):
                self.api.remove_container(found["Id"], force=True, v=True)
        for found in self.api.volumes(filters={"label": label}).get("Volumes") or []:
            with contextlib.suppress(NotFound):
                self.api.remove_volume(found["Name"], force=True)

    def rewritten(self) -> tuple[bytes, dict[str, Any]]:
        """The archive put into the volume (inputs/, output/ for the container's user) and the
        RunRequest naming those paths."""
        buffer = io.BytesIO()
        items = []
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            _add_directory(archive, "inputs", 0)
            _add_directory(archive, "output", CONTAINER_USER)
            for i, item in enumerate(self.request.get("inputs", [])):
                uris = []
                for j, uri in enumerate(item.get("uris", [])):
                    parsed = urlparse(uri)
                    if parsed.scheme != "file":
                        uris.append(uri)
                        continue
                    local = Path(unquote(parsed.path))
                    inside = f"inputs/{i}/{j}/{local.name}"
                    _add_file(archive, local, inside)
                    uris.append(f"file://{MOUNT}/{inside}")
                items.append({**item, "uris": uris})
        request = {**self.request, "inputs": items, "output_prefix": OUTPUT_PREFIX}
        return buffer.getvalue(), request

    def create(self) -> str:
        spec, resources = self.spec, self.spec.get("resources", {})
        host = self.api.create_host_config(
            network_mode="none",  # never a bridge (podman's API would add one, with NAT)
            read_only=True,
            tmpfs={"/tmp": ""},  # noqa: S108 - the container's own tmpfs
            mem_limit=f"{memory_mb(spec)}m",
            memswap_limit=f"{memory_mb(spec)}m",
            nano_cpus=int(float(resources.get("cpus", 1)) * 1e9),
            pids_limit=256,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name=n, soft=1024, hard=1024) for n in ("nofile", "nproc")],
            mounts=[Mount(MOUNT, self.volume, type="volume")],
        )
        env = {"CHAINLAKE_RUN_ID": self.request["run_id"], **self.request.get("credentials", {})}
        created = self.api.create_container(
            self.spec["launcher"]["image"],
            list(self.spec["launcher"].get("command", [])) or None,
            name=self.name,
            user=f"{CONTAINER_USER}:{CONTAINER_USER}",
            environment=env,
            labels=self.labels,
            stdin_open=True,  # with attach: stdin closes after the request (StdinOnce)
            host_config=host,
        )
        return str(created["Id"])

    def start(self, request: dict[str, Any]) -> None:
        """Attach to stdin and stdout (before the start, so no line is missed: a logs stream
        asked for as a quick job exits can hang on podman), start, write the RunRequest and
        close stdin (StdinOnce); relay stdout."""
        assert self.container_id is not None
        self.stream = self.launcher.streams.api.attach_socket(
            self.container_id, params={"stdin": 1, "stdout": 1, "stream": 1}
        )
        raw = getattr(self.stream, "_sock", self.stream)
        self.api.start(self.container_id)
        with contextlib.suppress(OSError):  # a job may exit without reading its request
            raw.sendall(json.dumps(request).encode())
            raw.shutdown(socket.SHUT_WR)
        self.relay = threading.Thread(target=self.relay_events, daemon=True)
        self.relay.start()

    # -- while it runs --------------------------------------------------------------------
    def relay_events(self) -> None:
        """The container's stdout, line by line, as the job's events; a line longer than
        LINE_LIMIT (an event is one line) kills the job, named, before the runner holds more
        of it: the runner is every org's."""
        pending = bytearray()
        with contextlib.suppress(*ENGINE_FAULTS, DockerException, OSError, ValueError):
            for kind, chunk in frames_iter(self.stream, tty=False):  # type: ignore[no-untyped-call]
                if kind != STDOUT:
                    continue
                start = 0
                while (end := chunk.find(b"\n", start)) >= 0:  # only the new bytes are searched
                    pending += chunk[start:end]
                    self.emit(self.mapped(pending.decode(errors="replace")) + "\n")
                    pending.clear()
                    start = end + 1
                pending += chunk[start:]
                if len(pending) > LINE_LIMIT:
                    self.killed = (
                        f"killed: the job wrote more than {LINE_LIMIT >> 20} MB in one line of "
                        "its stdout (each event is one line)"
                    )
                    self.killed_kind = "OutputRejected"
                    assert self.container_id is not None
                    self.launcher.watcher.api.kill(self.container_id)
                    return
        if pending:
            self.emit(self.mapped(pending.decode(errors="replace")) + "\n")

    def mapped(self, line: str) -> str:
        """An output (or result) event's URIs under the container's output prefix, moved onto
        the runner's local one; any other line as it is."""
        try:
            event = json.loads(line)
        except ValueError:
            return line
        if not isinstance(event, dict) or event.get("type") not in ("output", "result"):
            return line
        local = self.request["output_prefix"].rstrip("/") + "/"
        outputs = [event] if event["type"] == "output" else event.get("outputs") or []
        for output in outputs:
            if isinstance(output, dict) and isinstance(output.get("uris"), list):
                output["uris"] = [
                    local + u[len(OUTPUT_PREFIX) :]
                    if isinstance(u, str) and u.startswith(OUTPUT_PREFIX)
                    else u
                    for u in output["uris"]
                ]
        return json.dumps(event)

    def wait(
        self,
        deadline: float,
        stopping: threading.Event | None,
        abandon: threading.Event | None,
    ) -> int | None:
        """Watch the container until it exits, killing it at the deadline or when abandoned,
        and stopping it (SIGTERM, then SIGKILL) when the runner drains; its exit code."""
        assert self.container_id is not None
        misses = 0
        while True:
            try:
                state = self.launcher.watcher.api.inspect_container(self.container_id)["State"]
                misses = 0
            except ENGINE_FAULTS:
                misses += 1
                if misses >= ENGINE_MISSES:
                    raise EngineGone("it answered none of the last calls") from None
                time.sleep(POLL_SECONDS * 2)
                continue
            except APIError as exc:  # podman answers 500 while a container it kills exits
                misses += 1
                if not exc.is_server_error() or misses >= ENGINE_MISSES:
                    raise
                time.sleep(POLL_SECONDS * 2)
                continue
            if not state.get("Running") and state.get("Status") != "created":
                if self.relay is not None:
                    self.relay.join(timeout=10)
                return int(state.get("ExitCode", -1))
            if not self.killed:
                self.watch(deadline, stopping, abandon)
            self.sampler.sample(self.launcher.watcher.api, self.container_id)
            time.sleep(POLL_SECONDS)

    def watch(
        self,
        deadline: float,
        stopping: threading.Event | None,
        abandon: threading.Event | None,
    ) -> None:
        if time.monotonic() >= deadline:
            self.killed = "killed: past its timeout"
            self.api.kill(self.container_id)
        elif abandon is not None and abandon.is_set():
            self.killed = ABANDONED
            self.api.kill(self.container_id)
        elif stopping is not None and stopping.is_set():
            self.killed = "stopped: the runner shut down (an always_on job restarts)"
            self.api.stop(self.container_id, timeout=int(SHUTDOWN_GRACE_SECONDS))

    def stderr_tail(self) -> str:
        """The last TAIL_CHARACTERS of stderr, read as a stream and kept within TAIL_BYTES (the
        engine's `tail` counts lines, and a line may be any size)."""
        kept = bytearray()
        with contextlib.suppress(*ENGINE_FAULTS, DockerException, OSError, ValueError):
            for chunk in self.api.logs(
                self.container_id, stdout=False, stderr=True, stream=True, follow=False, tail=200
            ):
                kept += chunk
                del kept[:-TAIL_BYTES]
        text = kept.decode(errors="replace").rstrip("\n")  # a stream's frames end with one more
        return (text + "\n")[-TAIL_CHARACTERS:] if text else ""

    # -- after it exited ------------------------------------------------------------------
    def fetch_outputs(self) -> None:
        """The container's output directory, over the API, unpacked into the local prefix."""
        limit = int(self.spec.get("resources", {}).get("output_mb", DEFAULT_OUTPUT_MB)) << 20
        archive = self.workdir / "output.tar"
        stream, _ = self.api.get_archive(self.container_id, OUTPUT)
        size = 0
        with archive.open("xb") as handle:
            for chunk in stream:
                size += len(chunk)
                if size > limit + (64 << 20):  # the archive's headers on top of the files
                    raise OutputRefused(_too_large(limit))
                handle.write(chunk)
        assert self.launcher.storage_root is not None
        local = Path(unquote(urlparse(self.request["output_prefix"]).path))
        try:
            unpack(archive, self.launcher.storage_root, local, limit)
        finally:
            archive.unlink()

    def remove(self) -> None:
        """The container and its volume, gone from the engine (as far as it answers)."""
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.close()
        with contextlib.suppress(DockerException, *ENGINE_FAULTS):
            if self.container_id is not None:
                self.api.remove_container(self.container_id, force=True, v=True)
        with contextlib.suppress(DockerException, *ENGINE_FAULTS):
            if self.volume is not None:
                self.api.remove_volume(self.volume, force=True)


def _too_large(limit: int) -> str:
    return (
        f"output refused: the job's output directory holds more than {limit >> 20} MB "
        "(resources.output_mb)"
    )


def _add_directory(archive: tarfile.TarFile, name: str, uid: int) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, uid, uid
    info.mtime = int(time.time())
    archive.addfile(info)


def _add_file(archive: tarfile.TarFile, local: Path, inside: str) -> None:
    """A regular input file, read through no symbolic link, readable by everyone inside."""
    try:
        handle = os.open(local, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise WorkspaceError(f"input {local} cannot be read: {exc.strerror or exc}") from exc
    with os.fdopen(handle, "rb") as file:
        found = os.fstat(file.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise WorkspaceError(f"input {local} is not a regular file")
        info = tarfile.TarInfo(inside)
        info.size, info.mode, info.mtime = found.st_size, 0o444, int(found.st_mtime)
        archive.addfile(info, file)


def unpack(archive: Path, storage_root: Path, local: Path, limit: int) -> None:
    """The output archive (its top entry `output/`) into the local output prefix: directories
    made through no link (runner/workspace.py), regular files opened through no link, new or
    (a retry's) with one name only, emptied first; a link, a device or
    any other kind of entry, a name climbing out, or more than `limit` bytes refuse it."""
    make_directory(storage_root, local, Owner())
    total = 0
    with tarfile.open(archive, mode="r:") as tar:
        for member in _members(tar):
            relative = _relative(member.name)
            if relative is None:
                continue
            if member.isdir():
                make_directory(storage_root, local / relative, Owner())
                continue
            total += member.size
            if total > limit:
                raise OutputRefused(_too_large(limit))
            folder = open_directory(storage_root, (local / relative).parent)
            try:
                _write(tar, member, folder, local / relative)
            finally:
                os.close(folder)


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        if not (member.isdir() or member.isreg()):
            kind = (
                "a symbolic link"
                if member.issym()
                else "a hard link"
                if member.islnk()
                else ("a special file")
            )
            raise OutputRefused(
                f"output refused: {member.name} in the job's output directory is {kind} "
                "(a job's outputs are regular files it wrote itself)"
            )
        yield member


def _relative(name: str) -> str | None:
    """`output/a/b` -> `a/b`; None for the top directory itself; OutputRefused for a name that
    is absolute, climbs with '..' or is outside `output/`."""
    parts = name.rstrip("/").split("/")
    if parts[0] != "output" or any(p in ("", ".", "..") for p in parts[1:]) or name[:1] == "/":
        raise OutputRefused(f"output refused: the archive names {name!r}, outside output/")
    return "/".join(parts[1:]) or None


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, folder: int, path: Path) -> None:
    """The member's bytes into `path`: a new file, or a regular file with one name (an earlier
    attempt's, in a retry) emptied first; never through a link, never a second name of a file
    elsewhere; created in `folder` (a descriptor of the directory reached through no link), so a
    directory swapped for a link after it was checked is never followed."""
    source = tar.extractfile(member)
    assert source is not None
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        handle = os.open(path.name, flags, 0o644, dir_fd=folder)  # in the directory reached
    except OSError as exc:
        raise OutputRefused(f"output refused: {path}: {exc.strerror or exc}") from exc
    with os.fdopen(handle, "wb") as target:
        found = os.fstat(target.fileno())
        if not stat.S_ISREG(found.st_mode) or found.st_nlink > 1:
            raise OutputRefused(f"output refused: {path} exists and is not a file of its own")
        os.ftruncate(target.fileno(), 0)
        while block := source.read(BLOCK):
            target.write(block)
