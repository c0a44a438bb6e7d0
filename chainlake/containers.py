"""Container images for the `container` launcher, built locally with podman (no registry is
needed): a base image made once with debootstrap (Debian minbase with python3 and nodejs), and
one image per job version, FROM the base, holding the job's folder and the Python SDK.

    chainlake image base                 # once per machine (about a minute)
    chainlake image build jobs/examples/numbers/job.yaml
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chainlake.errors import StackError

BASE_IMAGE = "localhost/chainlake-base:1"
BASE_PACKAGES = "python3,nodejs"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
LOCK = Path("/var/tmp/chainlake-base-image.lock")  # noqa: S108 - one lock per machine
PODMAN = ["podman", "--runtime", "runc"]


def podman_available() -> bool:
    return shutil.which("podman") is not None and shutil.which("runc") is not None


def image_exists(image: str) -> bool:
    return subprocess.run([*PODMAN, "image", "exists", image], check=False).returncode == 0


@contextmanager
def _machine_lock() -> Iterator[None]:
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(*argv: str, stdin: bytes | None = None) -> None:
    result = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise StackError(f"{' '.join(argv[:3])} failed: {result.stderr.decode()[-2000:]}")


def ensure_base_image() -> str:
    """Build the base image unless this machine has it (one builder at a time)."""
    if not podman_available():
        raise StackError(
            "podman and runc are needed for container jobs",
            "Debian: apt-get install podman runc debootstrap",
        )
    with _machine_lock():
        if image_exists(BASE_IMAGE):
            return BASE_IMAGE
        with tempfile.TemporaryDirectory(prefix="chainlake-base-") as root:
            _run(
                "debootstrap",
                "--variant=minbase",
                f"--include={BASE_PACKAGES}",
                "bookworm",
                root,
                DEBIAN_MIRROR,
            )
            tar = subprocess.run(["tar", "-C", root, "-c", "."], capture_output=True, check=True)
            _run(*PODMAN, "import", "-", BASE_IMAGE, stdin=tar.stdout)
    return BASE_IMAGE


def job_image(name: str, version: str) -> str:
    return f"localhost/chainlake-job-{name}:{version}"


def build_job_image(job_dir: Path, name: str, version: str) -> str:
    """An image FROM the base with the job's folder in /job and the SDK on PYTHONPATH."""
    ensure_base_image()
    sdk = Path(__file__).parent
    with tempfile.TemporaryDirectory(prefix="chainlake-build-") as context:
        ctx = Path(context)
        shutil.copytree(job_dir, ctx / "job", ignore=shutil.ignore_patterns("__pycache__"))
        (ctx / "sdk" / "chainlake" / "sdk").mkdir(parents=True)
        shutil.copy(sdk / "sdk" / "__init__.py", ctx / "sdk" / "chainlake" / "sdk" / "__init__.py")
        (ctx / "sdk" / "chainlake" / "__init__.py").write_text("")
        (ctx / "Containerfile").write_text(
            f"FROM {BASE_IMAGE}\n"
            "COPY sdk /opt/chainlake\n"
            "COPY job /job\n"
            "ENV PYTHONPATH=/opt/chainlake\n"
            "WORKDIR /job\n"
            "USER 65534:65534\n"
        )
        image = job_image(name, version)
        _run(*PODMAN, "build", "--network", "none", "-t", image, str(ctx))
    return image
