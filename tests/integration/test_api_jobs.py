"""Jobs through the API with the Python client: applied (and refused: a path that names another
job, a definition the contract refuses, a platform credential), listed and shown with their
versions, run with params once per idempotency key, and a webhook secret made by an admin and
returned once; other orgs' jobs are unknown and unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from chainlake import jobdefs
from chainlake.errors import InvalidInput, NotFound, PermissionDenied
from tests.integration.test_api_runs import client
from tests.runtime import TEST_JOBS, scalar
from tests.tenants import Tenants

DEFINITIONS = (
    "SELECT md5(coalesce(string_agg(d::text, '|' ORDER BY id), '')) FROM jobs.definitions d"
)


def test_jobs_applied_run_and_given_a_webhook_secret(
    api: str, tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    wes = client(api, tmp_path, tenants, "a", "writer")
    ada = client(api, tmp_path, tenants, "a", "admin")
    bob = client(api, tmp_path, tenants, "b", "admin")
    behave = jobdefs.load(TEST_JOBS / "behave.yaml")
    hook = {**behave, "name": "hooked", "activation": "webhook"}
    assert wes.apply_job(org="a", definition=behave)["version"] == "1"
    assert wes.apply_job(org="a", definition=behave)["version"] == "1", "the same again"
    wes.apply_job(org="a", definition=hook)

    before = scalar(admin, DEFINITIONS)
    with pytest.raises(InvalidInput, match="name"):
        wes.request("PUT", "/v1/jobs/a/other", json=behave)
    with pytest.raises(InvalidInput):
        wes.request("PUT", "/v1/jobs/a/behave", json=[1, 2])
    with pytest.raises(PermissionDenied, match="platform credentials"):
        wes.apply_job(org="a", definition={**behave, "version": "2", "secrets": ["chain_writer"]})
    with pytest.raises(NotFound):
        bob.apply_job(org="a", definition={**behave, "version": "3"})
    assert scalar(admin, DEFINITIONS) == before, "refused definitions changed nothing"

    listed = {j["name"]: j for j in wes.list_jobs(org="a")}
    assert {"behave", "hooked"} <= set(listed) and listed["hooked"]["activation"] == "webhook"
    assert bob.list_jobs(org="a") == []

    once = wes.run_job(org="a", name="behave", params={"do": "ok"}, idempotency_key="k1")
    again = wes.run_job(org="a", name="behave", params={"do": "ok"}, idempotency_key="k1")
    assert once["id"] == again["id"], "one run per idempotency key"
    with pytest.raises(InvalidInput, match="idempotency_key"):
        wes.request("POST", "/v1/jobs/a/behave/runs", json={"idempotency_key": ""})
    with pytest.raises(NotFound):
        bob.run_job(org="a", name="behave")

    with pytest.raises(PermissionDenied, match="admin"):
        wes.set_webhook_secret(org="a", name="hooked")
    with pytest.raises(NotFound):
        bob.set_webhook_secret(org="a", name="hooked")
    with pytest.raises(InvalidInput, match="not a webhook job"):
        ada.set_webhook_secret(org="a", name="behave")
    made = ada.set_webhook_secret(org="a", name="hooked")
    assert len(made["secret"]) >= 32
    assert made["path"] == f"/v1/webhooks/{tenants.org_ids['a']}/hooked"
    stored = scalar(admin, "SELECT secret_enc FROM jobs.webhook_secrets WHERE job_name = 'hooked'")
    assert made["secret"].encode() not in bytes(stored), "stored encrypted"
