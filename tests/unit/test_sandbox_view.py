"""The process sandbox's mount plan (runner/sandbox.py): parents before children, and only the
mounts that change what the job sees."""

from __future__ import annotations

from pathlib import Path

from runner.sandbox import View, check_job_folder, mount_plan


def test_hidden_and_shown_paths_nest_in_order(tmp_path: Path) -> None:
    repo, home, data, out, venv = (
        tmp_path / "repo",
        tmp_path / "repo" / ".chainlake",
        tmp_path / "repo" / ".chainlake" / "data",
        tmp_path / "repo" / ".chainlake" / "data" / "org" / "_runs" / "r1",
        tmp_path / "repo" / ".venv",
    )
    for folder in (out, venv):
        folder.mkdir(parents=True)
    view = View().hide(home, data).show(repo, venv).show(out, writable=True)
    assert mount_plan(view) == [
        ("ro", repo),  # the repository, read-only
        ("hide", home),  # ... but its chainlake home hidden again
        ("rw", out),  # ... and the run's own prefix in it, writable
    ]  # .venv comes with the repository; data is hidden with the home


def test_missing_paths_are_left_out(tmp_path: Path) -> None:
    view = View().hide(tmp_path / "nope").show(tmp_path / "nothing", writable=True)
    assert mount_plan(view) == []


def test_a_job_folder_must_be_in_a_job_root_and_not_in_what_is_hidden(tmp_path: Path) -> None:
    project = tmp_path / "project"
    home, jobs = project / ".chainlake", project / "jobs" / "x"
    for folder in (home / "dev-issuer", jobs):
        folder.mkdir(parents=True)
    hidden = {home.resolve(), Path("/tmp").resolve()}  # noqa: S108 - the sandbox hides it
    assert check_job_folder(jobs, [project.resolve()], hidden) is None
    assert "lies in" in (check_job_folder(home / "dev-issuer", [project], hidden) or "")
    assert "outside the runner's job roots" in (
        check_job_folder(Path("/etc"), [project], hidden) or ""
    )
