"""Job secrets: set by writers (encrypted before Postgres sees them), never readable by anyone,
injected at launch as CHAINLAKE_SECRET_<NAME>; a job that prints its secret, logs it or fails
with it in the message has [REDACTED] stored instead; a declared secret that is not set refuses
the run clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import errors

from chainlake.secrets import encrypt
from tests.runtime import TEST_JOBS, apply, request_run, running_runner, wait_for
from tests.tenants import Tenants

SECRET = 'tok-s3cr3t-"value"-42-\u00e9'  # a quote and non-ASCII: escaped in JSON events


def test_a_secret_is_injected_never_shown_and_redacted_wherever_a_job_prints_it(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    key = Fernet.generate_key()
    writer, reader = tenants.user("b", "writer"), tenants.user("b", "reader")
    with tenants.login(reader) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT jobs.set_secret('b', 'api_token', %s)", (encrypt(key, "x"),))
    with tenants.login(writer) as conn:
        conn.execute("SELECT jobs.set_secret('b', 'api_token', %s)", (encrypt(key, SECRET),))
    with tenants.login(reader) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM jobs.secrets")]
        assert "api_token" in names, "members see the names"
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT value_enc FROM jobs.secrets")
    with tenants.login(tenants.user("a", "admin")) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM jobs.secrets")]
        assert "api_token" not in names, "another org never sees it"

    apply(tenants, writer, TEST_JOBS / "behave.yaml", secrets=["api_token"])
    run = request_run(tenants, writer, "behave", {"do": "leak"})
    with running_runner(tenants, tmp_path, secret_key=key.decode()):
        wait_for(
            lambda: (
                admin.execute(
                    "SELECT status IN ('dead', 'failed') FROM runs.runs WHERE id = %s", (run["id"],)
                ).fetchone()
                == (True,)
            ),
            timeout=60,
        )
    logs = json.dumps(
        [r[0] for r in admin.execute("SELECT event FROM runs.logs WHERE run_id = %s", (run["id"],))]
    )
    error = admin.execute("SELECT error FROM runs.runs WHERE id = %s", (run["id"],)).fetchone()
    attempts = admin.execute(
        "SELECT error FROM runs.attempts WHERE run_id = %s", (run["id"],)
    ).fetchall()
    stored = logs + json.dumps(error[0] if error else None) + json.dumps([a[0] for a in attempts])
    for form in (SECRET, json.dumps(SECRET)[1:-1], "s3cr3t"):
        assert form not in stored, f"the secret ({form}) reached stored logs or run history"
    assert "the token is [REDACTED]" in logs and "logging the token: [REDACTED]" in logs
    assert "refused with token [REDACTED]" in stored


def test_a_declared_secret_that_is_not_set_refuses_the_run_clearly(
    tenants: Tenants, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    writer = tenants.user("b", "writer")
    apply(tenants, writer, TEST_JOBS / "behave.yaml", secrets=["missing_one"])
    run = request_run(tenants, writer, "behave", {"do": "ok"})
    with running_runner(tenants, tmp_path, secret_key=Fernet.generate_key().decode()):
        wait_for(
            lambda: (
                admin.execute(
                    "SELECT status = 'dead' FROM runs.runs WHERE id = %s", (run["id"],)
                ).fetchone()
                == (True,)
            ),
            timeout=60,
        )
    (error,) = admin.execute(
        "SELECT error FROM runs.runs WHERE id = %s", (run["id"],)
    ).fetchone() or (None,)
    assert error is not None and error["type"] == "CredentialRefused"
    assert "secret missing_one is not set in this org" in error["message"]
