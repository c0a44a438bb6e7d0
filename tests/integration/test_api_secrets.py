"""Job secrets through the API (chainlake.client): a writer sets one, the value is stored
encrypted with the API's platform key and never returned, members list the names, readers and
other orgs change nothing; bad input is a 400 naming the field that changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from chainlake.client import Client
from chainlake.errors import InvalidInput, NotFound, PermissionDenied
from chainlake.secrets import decrypt
from tests.integration.conftest import serve_api, token
from tests.tenants import Tenants


def _stored(admin: psycopg.Connection[Any], org_id: str) -> dict[str, bytes]:
    rows = admin.execute(
        "SELECT name, value_enc FROM jobs.secrets WHERE org_id = %s", (org_id,)
    ).fetchall()
    return {str(r[0]): bytes(r[1]) for r in rows}


def test_job_secrets_through_the_client(
    tenants: Tenants, tmp_path: Path, admin: psycopg.Connection[Any]
) -> None:
    key = Fernet.generate_key()
    with serve_api(tenants, tmp_path, secret_key=key) as api:
        wes = Client(api, token(tmp_path, tenants.user("a", "writer")))
        ann = Client(api, token(tmp_path, tenants.user("a", "reader")))
        bob = Client(api, token(tmp_path, tenants.user("b", "admin")))

        assert wes.set_secret(org="a", name="api_token", value="s3cr3t-value") == {
            "org": "a",
            "name": "api_token",
        }
        stored = _stored(admin, tenants.org_ids["a"])
        assert decrypt(key, stored["api_token"]) == "s3cr3t-value", "sealed by the API's key"

        listed = ann.list_secrets()
        assert ("a", "api_token") in {(s["org"], s["name"]) for s in listed}
        assert {s["org"] for s in listed} == {"a"} and "s3cr3t" not in str(listed), "no value"
        assert "api_token" not in {s["name"] for s in bob.list_secrets()}, "b sees none of a's"

        before = _stored(admin, tenants.org_ids["a"])
        with pytest.raises(PermissionDenied):
            ann.set_secret(org="a", name="api_token", value="other")
        with pytest.raises((PermissionDenied, NotFound)):
            bob.set_secret(org="a", name="api_token", value="other")
        with pytest.raises((PermissionDenied, NotFound)):
            bob.delete_secret(org="a", name="api_token")
        with pytest.raises(InvalidInput, match=r"^name:"):
            wes.set_secret(org="a", name="Bad-Name", value="x")
        with pytest.raises(InvalidInput, match=r"^value:"):
            wes.set_secret(org="a", name="other", value="")
        assert _stored(admin, tenants.org_ids["a"]) == before, "nothing changed"

        wes.delete_secret(org="a", name="api_token")
        assert "api_token" not in {s["name"] for s in ann.list_secrets()}
        assert "api_token" not in _stored(admin, tenants.org_ids["a"])
