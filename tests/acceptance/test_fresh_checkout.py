"""The first five minutes, as a newcomer meets them: a checkout in a private directory (mode
0700, as `mktemp -d` and a root user's home make it), `make up` there, a query, then the README's
five-minute tour, every command in order with the output the README shows, and `make down`
leaving no process behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.acceptance.test_stack import postgres_processes_for, processes_matching

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = re.compile(r"\brun ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
EXPECTED_PREFIX = "#   "  # a README comment line with three spaces: the output shown


@dataclass
class Step:
    """One command of the tour and the output the README shows under it (if any)."""

    command: str
    expected: list[str] = field(default_factory=list)

    @property
    def may_fail(self) -> bool:
        return any(line.startswith("error:") for line in self.expected)


def tour_steps(readme: str) -> list[Step]:
    """The commands of the README's tour: continuation lines and shell loops joined into one
    command each (a command ends where bash can parse it), with their expected output."""
    section = readme.split("## A five-minute tour", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    steps: list[Step] = []
    pending = ""
    for line in block.splitlines():
        if not pending and line.startswith(EXPECTED_PREFIX) and steps:
            steps[-1].expected.append(line[len(EXPECTED_PREFIX) :].strip())
            continue
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            continue
        if subprocess.run(["bash", "-n", "-c", pending], capture_output=True).returncode == 0:
            steps.append(Step(pending))
            pending = ""
    assert not pending, f"the tour ends inside a command: {pending!r}"
    return steps


def shows(output: str, expected: str) -> bool:
    """The README's line appears in the output; `...` stands for anything."""
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.search(pattern, output) is not None


def copy_of_this_checkout(dest: Path) -> None:
    """A clone of this repository with this working tree's changes (so that what is tested is
    what is here, committed or not)."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True)
    diff = subprocess.run(
        ["git", "-C", str(ROOT), "diff", "HEAD", "--binary"], capture_output=True, check=True
    ).stdout
    if diff:
        subprocess.run(["git", "-C", str(dest), "apply", "-"], input=diff, check=True)
    untracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, untracked):
        target = dest / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name.decode(), target)


def shell(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINLAKE_")}
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def private_checkout() -> Iterator[Path]:
    """A checkout inside a fresh `mktemp -d` (mode 0700); afterwards its stack is stopped and
    its files, wherever the embedded cluster put them, are removed."""
    base = Path(tempfile.mkdtemp(prefix="chainlake-fresh-"))
    assert base.stat().st_mode & 0o777 == 0o700
    checkout = base / "fresh"
    copy_of_this_checkout(checkout)
    try:
        yield checkout
    finally:
        shell("make down", checkout, timeout=120)
        data = checkout / ".chainlake" / "pg"
        if data.is_symlink():
            shutil.rmtree(data.resolve(), ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def wait_for_ok(command: str, cwd: Path, seconds: float) -> None:
    """Until `command` succeeds (the demo DAG needs its first blocks), bounded."""
    deadline = time.monotonic() + seconds
    while True:
        result = shell(command, cwd, timeout=60)
        if result.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{command}: {result.stderr}"
        time.sleep(2)


@pytest.mark.slow
@pytest.mark.timeout(900)  # make up, the demo's first volumes, the whole tour, make down
def test_make_up_in_a_private_checkout_then_the_readme_tour(private_checkout: Path) -> None:
    up = shell("make up", private_checkout, timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "chainlake is up" in up.stdout
    status = shell(".venv/bin/chainlake status --json", private_checkout)
    (pg,) = [c for c in json.loads(status.stdout)["components"] if c["name"] == "postgres"]
    assert pg["state"] == "up", status.stdout
    # the postgres OS user cannot enter the checkout: the data lives in a state directory
    assert not Path(pg["data"]).is_relative_to(private_checkout.parent), pg
    ask = '.venv/bin/chainlake query "select count(*) > 0 from blocks"'
    wait_for_ok(ask, private_checkout, 60)
    assert shell(ask, private_checkout).stdout.split()[-1] == "True"
    # the demo's last dataset is there before the tour looks at it, as it is for a reader
    wait_for_ok(
        ".venv/bin/chainlake asset preview token_volume_usd --org demo --limit 1",
        private_checkout,
        120,
    )

    steps = tour_steps((private_checkout / "README.md").read_text())
    assert steps[0].command == "make up" and steps[-1].command == "make down"
    last_run = ""
    for step in steps:
        command = step.command.replace("RUN_ID", last_run)
        result = shell(command, private_checkout)
        output = result.stdout + result.stderr
        assert result.returncode == 0 or step.may_fail, f"$ {command}\n{output}"
        for expected in step.expected:
            assert shows(output, expected), f"$ {command}\nexpected: {expected}\ngot:\n{output}"
        found = RUN_ID.findall(output)
        last_run = found[-1] if found else last_run

    time.sleep(1)
    left = processes_matching(str(private_checkout)) + postgres_processes_for(pg["data"])
    assert not left, f"processes left running after make down: {left}"
