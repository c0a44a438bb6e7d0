"""chainlake.sdk.credential: a platform job reads the credential the runner handed it, or fails
for good with the declaration it lacks."""

from __future__ import annotations

import io
import json

import pytest

from chainlake.sdk import Context, credential, job


def test_a_handed_credential_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINLAKE_CHAIN_DATABASE_URL", "postgresql:///chain")
    assert credential("CHAINLAKE_CHAIN_DATABASE_URL", "chain_writer") == "postgresql:///chain"


def test_a_missing_credential_fails_the_run_for_good_naming_the_declaration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHAINLAKE_ALERTS_DATABASE_URL", raising=False)

    @job
    def needs(ctx: Context) -> None:
        credential("CHAINLAKE_ALERTS_DATABASE_URL", "alert_sender")

    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        needs.main(io.StringIO(json.dumps({"run_id": "r"})), out)
    assert exited.value.code == 1
    error = json.loads(out.getvalue().splitlines()[-1])["error"]
    assert error["type"] == "PermanentError" and error["retryable"] is False
    assert "CHAINLAKE_ALERTS_DATABASE_URL is not set" in error["message"]
    assert "secrets: [alert_sender]" in error["message"]
