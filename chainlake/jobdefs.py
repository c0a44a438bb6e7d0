"""Job definitions: YAML files checked against the contract's schema, then applied to an org
through `jobs.apply_definition` (which holds the rules every client meets)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml
from croniter import CroniterError, croniter

from chainlake.contract import problems
from chainlake.errors import InvalidInput
from chainlake.paths import check_template


def load(path: Path) -> dict[str, Any]:
    """Read and check a definition; relative launcher paths become relative to the file."""
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{path}: cannot read the definition: {exc}") from exc
    launcher = spec.get("launcher") if isinstance(spec, dict) else None
    if isinstance(launcher, dict) and launcher.get("kind") == "process":
        workdir = launcher.get("workdir", ".")  # stored absolute (a rule of the contract)
        if isinstance(workdir, str) and "\0" not in workdir:
            launcher["workdir"] = str((path.parent / workdir).resolve())
    check(spec, str(path))
    assert isinstance(spec, dict)
    return dict(spec)


def check(spec: object, where: str = "definition") -> None:
    found = problems("job_definition", spec)
    if found:
        raise InvalidInput(f"{where}: invalid job definition: {'; '.join(found)}")
    assert isinstance(spec, dict)
    if "output_path_template" in spec:
        try:
            check_template(spec["output_path_template"])
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: invalid job definition: {exc.message}") from exc
    if spec.get("activation") == "cron":
        check_schedule(spec["schedule"], where)


def check_schedule(schedule: str, where: str = "definition") -> None:
    """The scheduler's parser takes it and finds a next tick (Postgres checks the pattern too:
    jobs.check_cron)."""
    problem = None
    if not croniter.is_valid(schedule):
        problem = "is not a cron expression"
    else:
        try:
            croniter(schedule, datetime.now(UTC)).get_next(datetime)
        except (CroniterError, ValueError, OverflowError):
            problem = "never fires"
    if problem:
        raise InvalidInput(f"{where}: invalid job definition: schedule: {schedule!r} {problem}")


def next_fire(spec: dict[str, Any], now: datetime | None = None) -> datetime | None:
    if spec.get("activation") != "cron":
        return None
    base = now or datetime.now(UTC)
    fire: datetime = croniter(spec["schedule"], base).get_next(datetime)
    return fire


def apply(conn: psycopg.Connection[Any], org_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Apply a definition to an org by id (the demo's and the tests' path; people apply by org
    name through chainlake.domain.jobs.apply_job)."""
    from chainlake.domain.jobs import apply_definition

    return apply_definition(conn, org_id=org_id, spec=spec)
