"""The committed schema dump (schema/chainlake.sql) is what the migrations build: a fresh
database's normalized dump equals it, or the test fails with the diff and how to refresh it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from chainlake.local.schema import DUMP, difference, dump
from tests.harness import TestCluster


def test_the_committed_schema_dump_is_what_the_migrations_build(
    cluster: TestCluster, database: str
) -> None:
    fresh = dump(cluster.url(database))
    found = difference(DUMP.read_text(), fresh)
    if found:
        message = f"schema/chainlake.sql is out of date: run `make schema`\n{found}"
        pytest.fail(message, pytrace=False)


def test_a_function_changed_by_hand_is_a_diff_naming_it(
    cluster: TestCluster, database: str, admin: psycopg.Connection[Any]
) -> None:
    before = dump(cluster.url(database))
    assert dump(cluster.url(database)) == before  # deterministic
    admin.execute(
        "CREATE OR REPLACE FUNCTION core.try_int(value text) RETURNS integer LANGUAGE sql "
        "IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS "
        "$$ SELECT CASE WHEN value ~ '^[0-9]{1,12}$' THEN value::integer END $$"
    )
    found = difference(before, dump(cluster.url(database)))
    changed = [line for line in found.splitlines()[2:] if line[:1] in "-+"]
    assert any(line.startswith("-") and "{1,9}" in line for line in changed), found
    assert any(line.startswith("+") and "{1,12}" in line for line in changed), found
    assert len(changed) < 8, found  # that function's body, nothing else
