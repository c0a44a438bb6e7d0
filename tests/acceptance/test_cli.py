"""The CLI against a configured server (CHAINLAKE_DATABASE_URL): orgs, users, clear one-line
errors with non-zero exit codes, tokens, and psql as a user's RLS-scoped role over TCP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.acceptance.cli import run
from tests.harness import TestCluster


@pytest.fixture
def env(cluster: TestCluster, database: str, tmp_path: Path) -> dict[str, str]:
    return {
        "CHAINLAKE_DATABASE_URL": cluster.pg.tcp_url(database),
        "CHAINLAKE_HOME": str(tmp_path / "home"),
    }


def ok(*args: str, env: dict[str, str]) -> str:
    result = run(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_orgs_users_and_a_users_own_view(env: dict[str, str]) -> None:
    assert "created org acme" in ok("org", "create", "acme", env=env)
    ok("org", "create", "beta", env=env)
    assert "created user ann@acme.example (admin in acme)" in ok(
        "user", "create", "ann@acme.example", "--org", "acme", "--role", "admin", env=env
    )
    ok("user", "create", "bob@beta.example", "--org", "beta", "--role", "reader", env=env)
    assert "ann@acme.example  acme  admin" in ok("user", "list", env=env)
    me = ok("whoami", "--as", "bob@beta.example", env=env).splitlines()
    assert me[0] == "bob@beta.example"
    assert [line.split() for line in me[2:]] == [["beta", "reader"]], "only a user's own"
    out = ok("psql", "--as", "ann@acme.example", "-At", "-c", "select name from core.orgs", env=env)
    assert out.split() == ["acme"]
    out = ok(
        "psql",
        "--as",
        "bob@beta.example",
        "-At",
        "-c",
        'set request.jwt.claims = \'{"sub": "x"}\'; select name from core.orgs',
        env=env,
    )
    assert out.split() == ["SET", "beta"]
    assert ok("psql", "-At", "-c", "select 1", env=env).strip() == "1"
    token = ok("token", "--user", "ann@acme.example", env=env).strip()
    assert token.count(".") == 2


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("--org", "nope", "--role", "reader"), 'error: unknown org "nope"', 3),
        (("--org", "acme", "--role", "boss"), 'error: unknown role "boss"', 2),
        (("--org", "acme", "--role", "reader"), 'error: user "dup@acme.example" already exists', 4),
    ],
)
def test_bad_input_gives_one_clear_line_and_a_non_zero_exit(
    env: dict[str, str],
    admin: psycopg.Connection[Any],
    args: tuple[str, ...],
    message: str,
    code: int,
) -> None:
    ok("org", "create", "acme", env=env)
    ok("user", "create", "dup@acme.example", "--org", "acme", "--role", "writer", env=env)
    before = admin.execute(
        "SELECT (SELECT count(*) FROM core.users), (SELECT count(*) FROM pg_roles)"
    ).fetchone()
    result = run("user", "create", "dup@acme.example", *args, env=env)
    assert result.returncode == code
    assert result.stderr.splitlines()[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    after = admin.execute(
        "SELECT (SELECT count(*) FROM core.users), (SELECT count(*) FROM pg_roles)"
    ).fetchone()
    assert after == before


def test_a_malformed_email_is_refused(env: dict[str, str]) -> None:
    ok("org", "create", "acme", env=env)
    result = run("user", "create", "not-an-email", "--org", "acme", "--role", "reader", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith('error: malformed email "not-an-email"')


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    env = {
        "CHAINLAKE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "CHAINLAKE_HOME": str(tmp_path),
    }
    result = run("org", "list", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to Postgres")
