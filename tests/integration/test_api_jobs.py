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
from chainlake.client import Client
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


NOT_OPERATIONS = {
    "apply_definition",
    "org_id",
    "check_run_id",
    "poll_delays",  # the pauses of a wait, shared by the local CLI and the API
    "openlineage_events",
    "asset_manifest",
    # the API's own webhook receiver (a signature, not a user, is the caller)
    "webhook_secret_sealed",
    "receive_webhook",
    # the operator's chain commands (the chain-writing role, on the operator's machine)
    "chain_ids",
    "chain_settings",
}


def test_the_client_has_each_operation_with_the_same_keyword_arguments() -> None:
    """The remote CLI calls `Client.<operation>(**kwargs)` where the local one calls the domain
    function: every user operation of these domains has a method of the same name and keywords."""
    import inspect

    from chainlake.domain import assets, chain, jobs, lineage, runs

    for module in (jobs, runs, assets, lineage, chain):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_") or name in NOT_OPERATIONS:
                continue
            method = getattr(Client, name, None)
            assert method is not None, f"Client has no {name} ({module.__name__})"
            ours = inspect.signature(fn).parameters
            theirs = inspect.signature(method).parameters
            wanted = {p: v.default for p, v in ours.items() if v.kind is v.KEYWORD_ONLY}
            given = {p: v.default for p, v in theirs.items() if v.kind is v.KEYWORD_ONLY}
            assert set(given) == set(wanted), f"Client.{name}: {set(given) ^ set(wanted)}"
            for arg, default in wanted.items():  # the same defaults where the domain has one
                if default is not inspect.Parameter.empty:
                    assert given[arg] == default, f"Client.{name}: {arg}={given[arg]!r}"
