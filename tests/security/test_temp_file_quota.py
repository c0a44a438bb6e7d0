"""A review finding after issue 14's fixes (medium): temp_file_limit was unlimited, so one
reader's sorted cross join wrote hundreds of MB of temporary files (enough sessions fill the
disk for every tenant). Each login role now carries its orgs' sql_temp_file_mb, which only a
superuser may change."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.tenants import Tenants


def test_a_users_session_cannot_spill_past_its_quota_nor_lift_it(
    tenants: Tenants, admin: psycopg.Connection[Any]
) -> None:
    reader = tenants.user("b", "reader")
    with tenants.login(reader) as conn:
        assert conn.execute("SHOW temp_file_limit").fetchone() == ("1GB",)
    admin.execute(
        "UPDATE core.quotas SET sql_temp_file_mb = 1 WHERE org_id = %s", (tenants.org_ids["b"],)
    )
    with tenants.login(reader) as conn:
        assert conn.execute("SHOW temp_file_limit").fetchone() == ("1MB",)
        with pytest.raises(errors.InsufficientPrivilege, match="temp_file_limit"):
            conn.execute("SET temp_file_limit = -1")
        conn.execute("SET work_mem = '64kB'")  # a person may still choose to spill
        with pytest.raises(errors.ConfigurationLimitExceeded, match="temp_file_limit"):
            conn.execute(
                "SELECT count(*) FROM (SELECT g FROM generate_series(1, 2000000) g "
                "ORDER BY g DESC) s"
            )
    # another org's users keep their own quota
    with tenants.login(tenants.user("a", "reader")) as conn:
        assert conn.execute("SHOW temp_file_limit").fetchone() == ("1GB",)
