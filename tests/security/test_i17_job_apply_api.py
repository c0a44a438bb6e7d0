"""Issue 17's job apply through the API (PUT /v1/jobs/{org}/{name}) as org "evil" (org b): the
issue-14 fixes (SECURITY.md items 19 and 20: tenant values in paths and command lines) hold on
this path too, each refusal a problem naming the field, nothing stored; and another org's job,
or no token, is refused before anything is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import send, token
from tests.security.test_c1_path_traversal import C1_ATTACK, SWEEP, hostile_spec, stored
from tests.tenants import Tenants

THROUGH_THE_API = [s for s in SWEEP if s[0] != "name"]  # the name is the path's (its own check)


@pytest.mark.parametrize(
    ("field", "change", "words"),
    [("the reported attack", C1_ATTACK, "version"), *THROUGH_THE_API],
    ids=["c1", *(s[0] for s in THROUGH_THE_API)],
)
def test_every_checked_value_is_refused_through_the_api(
    api: str,
    tenants: Tenants,
    admin: psycopg.Connection[Any],
    tmp_path: Path,
    field: str,
    change: dict[str, Any],
    words: str,
) -> None:
    spec = hostile_spec(**change)
    writer = token(tmp_path, tenants.user("b", "writer"))
    status, problem = send(api, "PUT", f"/v1/jobs/b/{spec['name']}", writer, spec)
    assert status in (400, 422), (field, status, problem)
    assert words.split(" ")[0] in str(problem), (field, problem)
    assert stored(admin, spec["name"]) == 0


def test_another_orgs_job_or_no_token_is_refused(
    api: str, tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    spec = hostile_spec()
    writer = token(tmp_path, tenants.user("b", "writer"))
    assert send(api, "PUT", f"/v1/jobs/a/{spec['name']}", writer, spec)[0] == 404
    assert send(api, "PUT", f"/v1/jobs/a/{spec['name']}", "", spec)[0] == 401
    assert send(api, "PUT", f"/v1/jobs/b/{spec['name']}", "not-a-jwt", spec)[0] == 401
    assert stored(admin, spec["name"]) == 0
