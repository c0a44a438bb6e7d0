"""Job definitions: YAML files checked against the contract's schema, then applied to an org
through `jobs.apply_definition` (which holds the rules every client meets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml
from croniter import CroniterError, croniter

from chainlake.contract import problems
from chainlake.db import call
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


def list_jobs(conn: psycopg.Connection[Any], org: str | None) -> list[dict[str, Any]]:
    """Each job's current version, with its schedule's next tick and, when the scheduler set
    it aside, why (`schedule_error`)."""
    return call(
        conn,
        "SELECT DISTINCT ON (o.name, d.name) o.name AS org, d.name, d.version, d.kind, "
        "d.spec ->> 'type' AS type, d.spec ->> 'activation' AS activation, "
        "d.input_datasets, d.output_datasets, s.next_fire_at, s.last_error AS schedule_error "
        "FROM jobs.definitions d JOIN core.orgs o ON o.id = d.org_id "
        "LEFT JOIN jobs.schedules s ON s.org_id = d.org_id AND s.job_name = d.name "
        "WHERE (%(org)s::text IS NULL OR o.name = %(org)s) "
        "ORDER BY o.name, d.name, d.applied_at DESC",
        {"org": org},
    )


def apply(conn: psycopg.Connection[Any], org_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    check(spec)
    return call(
        conn,
        "SELECT * FROM jobs.apply_definition(%(org)s, %(spec)s, %(next)s)",
        {"org": org_id, "spec": json.dumps(spec), "next": next_fire(spec)},
    )[0]
