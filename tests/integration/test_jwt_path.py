"""End to end on the API's path: a dev token, verified, becomes the claims of one transaction."""

from __future__ import annotations

from pathlib import Path

import psycopg

from chainlake.db import claims_transaction
from chainlake.tokens import issue_dev_token, verify_dev_token
from tests.tenants import Tenants


def test_a_verified_token_reads_its_users_orgs_only(tenants: Tenants, tmp_path: Path) -> None:
    user = tenants.user("c", "reader")
    claims = verify_dev_token(tmp_path, issue_dev_token(tmp_path, user.id, user.email))
    url = tenants.cluster.url(tenants.database, "chainlake_api")
    with psycopg.connect(url) as conn, claims_transaction(conn, claims) as cur:
        me = cur.execute("SELECT email, org, role FROM core.whoami()").fetchall()
        orgs = {r["name"] for r in cur.execute("SELECT name FROM core.orgs")}
    assert me == [{"email": user.email, "org": "c", "role": "reader"}]
    assert orgs == {"a", "c"}  # its own, and a's through the grant
