"""C1: path traversal through the job version (SECURITY.md item 19, tenant values in paths).

Org "evil" (org b) applied `version: "../../../dev-issuer/."` with `output_path_template:
"{org_id}/{run_id}/{job_version}"`: the process launcher mounted the dev issuer's folder
read-write and chowned it to `nobody`. Every value a tenant sets that reaches a path or a command
line is now checked where it is stored (the contract's schema for the CLI, and the stored check
on jobs.definitions for any client, `jobs.apply_definition` called directly included) and again
where it is used (the runner re-checks the definition and resolves the output prefix under the
org's tree), in both launchers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from chainlake import jobdefs
from chainlake.containers import build_job_image
from chainlake.contract import rules
from chainlake.errors import ChainlakeError, InvalidInput
from chainlake.paths import output_prefix
from tests.runtime import EXAMPLES, request_run, running_runner, wait_for
from tests.tenants import Tenants

HOSTILE = EXAMPLES / "hostile" / "job.yaml"
VERSION_RULE = "version may hold only letters, digits, '.', '_' and '-'"
C1_ATTACK = {
    "version": "../../../dev-issuer/.",
    "output_path_template": "{org_id}/{run_id}/{job_version}",
}
CONTAINER = {"kind": "container", "image": "localhost/chainlake-job-hostile:1"}


def hostile_spec(**overrides: Any) -> dict[str, Any]:
    """The hostile example job's definition, changed by `overrides` (None removes a field)."""
    spec = jobdefs.load(HOSTILE) | overrides
    return {k: v for k, v in spec.items() if v is not None}


def apply_sql(tenants: Tenants, spec: dict[str, Any]) -> None:
    """Apply as org b's writer with `jobs.apply_definition` directly (no client-side check)."""
    writer = tenants.user("b", "writer")
    with tenants.login(writer) as conn:
        conn.execute(
            "SELECT jobs.apply_definition(%s, %s)", (tenants.org_ids["b"], json.dumps(spec))
        )


def stored(admin: psycopg.Connection[Any], name: str) -> int:
    row = admin.execute("SELECT count(*) FROM jobs.definitions WHERE name = %s", (name,))
    return int(row.fetchone()[0])  # type: ignore[index]


def assert_refused_everywhere(
    tenants: Tenants, admin: psycopg.Connection[Any], spec: dict[str, Any], words: str
) -> None:
    """Refused by the CLI's check and by the stored check, each naming the field and its rule;
    nothing stored."""
    writer = tenants.user("b", "writer")
    with pytest.raises(InvalidInput) as by_client, tenants.login(writer) as conn:
        jobdefs.apply(conn, tenants.org_ids["b"], spec)
    assert words in by_client.value.message, by_client.value.message
    with pytest.raises(psycopg.errors.InvalidParameterValue) as by_sql:
        apply_sql(tenants, spec)
    assert words in str(by_sql.value), str(by_sql.value)
    assert stored(admin, spec["name"]) == 0


def test_the_reported_attack_is_refused_when_applied(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    assert_refused_everywhere(tenants, admin, hostile_spec(**C1_ATTACK), VERSION_RULE)


PROCESS = {"kind": "process", "command": ["python3", "job.py"]}
SWEEP = [
    ("version", {"version": ".."}, VERSION_RULE),
    ("version", {"version": "1/../../x"}, VERSION_RULE),
    ("version", {"version": "-v"}, VERSION_RULE),
    ("name", {"name": "../acme"}, "name may hold only lowercase letters, digits"),
    (
        "output_datasets",
        {"output_datasets": ["../../acme/data"]},
        "output_datasets may hold only lowercase letters, digits",
    ),
    (
        "input_datasets",
        {"input_datasets": ["numbers/../../x"]},
        "input_datasets may hold only lowercase letters, digits",
    ),
    ("secrets", {"secrets": ["../../key"]}, "secrets may hold only lowercase letters, digits"),
    (
        "launcher.workdir",
        {"launcher": {**PROCESS, "workdir": "/srv/jobs/../../etc"}},
        "launcher.workdir must be an absolute path without '.' or '..'",
    ),
    (
        "launcher.command",
        {"launcher": {**PROCESS, "command": ["--help"]}},
        "launcher.command[0] (the program) may not be empty or start with '-'",
    ),
    (
        "container command",
        {"launcher": {**CONTAINER, "command": ["--privileged", "sh"]}},
        "launcher.command[0] (the program) may not be empty or start with '-'",
    ),
    (
        "output_path_template",
        {"output_path_template": "{org_id}/{run_id}/../../x"},
        "output_path_template",
    ),
    (
        "output_path_template escapes",
        {"output_path_template": "{org_id}/{{job}}/{run_id}"},
        "unknown field",
    ),
]


@pytest.mark.parametrize(("field", "change", "words"), SWEEP, ids=[s[0] for s in SWEEP])
def test_every_value_that_reaches_a_path_or_command_line_is_checked_where_stored(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    field: str,
    change: dict[str, Any],
    words: str,
) -> None:
    assert_refused_everywhere(tenants, admin, hostile_spec(**change), words)


def test_a_direct_insert_is_held_to_the_same_rules(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    """A writer may insert definitions (and datasets) under RLS: the stored checks see those
    rows too."""
    writer = tenants.user("b", "writer")
    for name, version, spec in (
        ("x", "../../../dev-issuer/.", {}),
        ("../x", "1", {}),
        ("x", "1", {"launcher": {"kind": "container", "image": "--privileged"}}),
    ):
        with pytest.raises(psycopg.errors.InvalidParameterValue), tenants.login(writer) as conn:
            conn.execute(
                "INSERT INTO jobs.definitions (org_id, name, version, spec) "
                "VALUES (%s, %s, %s, %s)",
                (tenants.org_ids["b"], name, version, json.dumps(spec)),
            )
    assert stored(admin, "x") == 0
    with pytest.raises(psycopg.errors.CheckViolation), tenants.login(writer) as conn:
        conn.execute(
            "INSERT INTO catalog.datasets (org_id, name) VALUES (%s, '../acme')",
            (tenants.org_ids["b"],),
        )


def store_as_before_the_fix(
    admin: psycopg.Connection[Any], org_id: str, spec: dict[str, Any]
) -> None:
    """A definition stored before the stored check existed (the operator writes it with triggers
    off): the runner must still refuse to use it."""
    with admin.transaction():
        admin.execute("SET LOCAL session_replication_role = replica")
        admin.execute(
            "INSERT INTO jobs.definitions (org_id, name, version, spec, output_datasets) "
            "VALUES (%s, %s, %s, %s, %s)",
            (org_id, spec["name"], spec["version"], json.dumps(spec), spec["output_datasets"]),
        )


def finished_run(
    tenants: Tenants, admin: psycopg.Connection[Any], storage: Path, params: dict[str, Any]
) -> dict[str, Any]:
    writer = tenants.user("b", "writer")
    with running_runner(tenants, storage):
        run = request_run(tenants, writer, "hostile", params)

        def finished() -> dict[str, Any] | None:
            with admin.cursor(row_factory=dict_row) as cur:
                row = cur.execute("SELECT * FROM runs.runs WHERE id = %s", (run["id"],)).fetchone()
            return row if row and row["status"] in ("succeeded", "dead") else None

        return wait_for(finished, timeout=90, every=0.2)


@pytest.mark.parametrize("launcher", ["process", "container"])
def test_a_definition_stored_before_the_fix_fails_its_own_runs_in_both_launchers(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path, launcher: str
) -> None:
    """The reported attack, already stored: the runner refuses it before anything is created,
    mounted or chowned, and the run's error names the field and its rule."""
    storage = tmp_path / "storage"
    issuer = tmp_path / "dev-issuer"  # where "../../../dev-issuer/." leads from the prefix
    issuer.mkdir(mode=0o700)
    key = issuer / "private.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o600)
    before = [(p.stat().st_uid, p.stat().st_mode) for p in (issuer, key)]
    spec = hostile_spec(**C1_ATTACK, **({"launcher": CONTAINER} if launcher == "container" else {}))
    store_as_before_the_fix(admin, tenants.org_ids["b"], spec)
    run = finished_run(tenants, admin, storage, {"attack": "read_host", "path": str(key)})
    error = run["error"] or {}
    assert (run["status"], error.get("type")) == ("dead", "DefinitionError"), error
    assert VERSION_RULE in error["message"]
    assert [(p.stat().st_uid, p.stat().st_mode) for p in (issuer, key)] == before
    assert sorted(p.name for p in issuer.iterdir()) == ["private.pem"]
    assert not (storage / tenants.org_ids["b"]).exists()


def test_the_output_prefix_is_resolved_and_kept_in_the_org_tree(tmp_path: Path) -> None:
    """Where it is used: every substituted value is checked again, and the resolved prefix must
    lie in the org's own tree."""
    run = {"org_id": "o1", "id": "r1", "job_name": "prices", "job_version": "3"}
    template = {"output_path_template": "{org_id}/{run_id}/{job_version}"}
    assert output_prefix(tmp_path, run, template) == (tmp_path / "o1/r1/3").as_uri() + "/"
    for field, value in (
        ("job_version", "../../../dev-issuer/."),
        ("job_version", ".."),
        ("job_name", "a/../../b"),
        ("org_id", ".."),
        ("id", "../x"),
    ):
        spec = {"output_path_template": "{org_id}/{job}/{run_id}/{job_version}"}
        with pytest.raises(ChainlakeError) as caught:
            output_prefix(tmp_path, {**run, field: value}, spec)
        assert "may hold only" in caught.value.message, caught.value.message


@pytest.fixture(scope="module")
def hostile_image() -> str:
    """This module's own build of the hostile job (its path attacks included)."""
    return build_job_image(EXAMPLES / "hostile", "hostile-c1", "1")


JOB_ATTACKS = {
    "traverse_output": ("OutputRejected", "is outside the run's prefix"),
    "traverse_partition": ("OutputRejected", "partition '../../acme' may hold only"),
    "hard_link": ("PermanentError", "hard link to a host file blocked"),
}


@pytest.mark.parametrize("launcher", ["process", "container"])
def test_the_hostile_jobs_path_attacks_are_blocked_in_both_launchers(
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    launcher: str,
    request: pytest.FixtureRequest,
) -> None:
    """The job's own code climbs out through '..' in an output URI or a partition key, or
    hard-links a host file into its prefix: each run fails naming what was blocked, and no
    version is recorded."""
    overrides: dict[str, Any] = {}
    if launcher == "container":
        image = request.getfixturevalue("hostile_image")
        overrides["launcher"] = {
            "kind": "container",
            "image": image,
            "command": ["python3", "job.py"],
        }
    writer = tenants.user("b", "writer")
    with tenants.login(writer) as conn:
        jobdefs.apply(conn, tenants.org_ids["b"], hostile_spec(**overrides))
    storage = tmp_path / "storage"
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("HOST-SECRET\n")
    with running_runner(tenants, storage):
        ids = {
            a: request_run(tenants, writer, "hostile", {"attack": a, "path": str(secret)})["id"]
            for a in JOB_ATTACKS
        }

        def finished() -> dict[str, dict[str, Any]] | None:
            with admin.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT * FROM runs.runs WHERE id = ANY(%s) "
                    "AND status IN ('succeeded', 'dead')",
                    (list(ids.values()),),
                ).fetchall()
            by_id = {str(r["id"]): r for r in rows}
            return {a: by_id[str(i)] for a, i in ids.items()} if len(by_id) == len(ids) else None

        done = wait_for(finished, timeout=120, every=0.2)
    wrong = {
        attack: (run["status"], run["error"])
        for attack, run in done.items()
        if run["status"] != "dead"
        or (run["error"] or {}).get("type") != JOB_ATTACKS[attack][0]
        or JOB_ATTACKS[attack][1] not in (run["error"] or {}).get("message", "")
    }
    assert not wrong, wrong
    versions = admin.execute(
        "SELECT count(*) FROM catalog.asset_versions WHERE run_id = ANY(%s)", (list(ids.values()),)
    ).fetchone()
    assert versions == (0,)
    assert secret.stat().st_nlink == 1


def test_the_stored_check_holds_the_contracts_rules(admin: psycopg.Connection[Any]) -> None:
    """One rule, two places: the stored check (sql/jobs/52_tenant_values.sql) states the same
    pattern, length and words as the contract's schema for every field, so a client that skips
    the schema meets the same refusal; the catalog's constraints hold the rules of partition
    keys and dataset names."""
    stored_rules = {
        field: (pattern, max_length, rule)
        for field, pattern, max_length, rule in admin.execute(
            "SELECT field, pattern, max_length, rule FROM jobs.value_rules()"
        )
    }
    stated = {
        field: (node["pattern"], node.get("maxLength"), node["x-rule"])
        for field, node in rules().items()
        if field != "partition"
    }
    assert stored_rules == stated
    for constraint, field in (
        ("asset_versions_partition_key", "partition"),
        ("datasets_name_format", "output_datasets"),
    ):
        found = admin.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s", (constraint,)
        ).fetchone()
        assert found is not None and rules()[field]["pattern"] in found[0], (constraint, found)
