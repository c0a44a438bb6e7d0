"""`make schema`: the platform's schema after every migration, as a normalized dump committed in
`schema/chainlake.sql` and diffed by CI (tests/integration/test_schema_dump.py).

    python -m chainlake.local.schema            migrate a fresh database, write the dump
    python -m chainlake.local.schema --check    the same, but only compare: exit 1 with a diff

The dump is `pg_dump --schema-only` of the platform's schemas (pgmq is the `pgmq` package's own,
left out) and the platform's roles (`pg_dumpall --roles-only --no-role-passwords`), made
deterministic: no version comments, no SET lines, no `\\restrict` keys, its objects sorted by
schema, then by pg_dump's header (name, type), and each object's grants sorted, so that the
order things were created and granted in never shows.
It is for reading and diffing, not for restoring (`chainlake migrate` builds a database).
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from chainlake.local.localpg import TEST_SETTINGS, LocalPostgres, pg_bindir, server_version
from chainlake.migrate import migrate

REPO = Path(__file__).resolve().parents[2]
DUMP = REPO / "schema" / "chainlake.sql"
SCHEMAS = ("alerts", "audit", "catalog", "chain", "chainlake_meta", "core", "jobs", "pii", "runs")
ROLE_PREFIX = "chainlake_"
# A platform role's own line: its creation, its attributes and settings, or what it is granted
# (not the users' login roles, which are members of chainlake_users, nor any other role the
# cluster holds).
VALID_UNTIL = re.compile(r" VALID UNTIL '[^']*'")
PLATFORM_ROLE_LINE = re.compile(rf"^(?:(?:CREATE|ALTER) ROLE|GRANT \S+ TO) {ROLE_PREFIX}\w+\b")
HEADER = re.compile(r"^-- Name: (.*); Type: (.*); Schema: (.*); Owner: (.*)$", re.MULTILINE)
VOLATILE = re.compile(
    r"^(SET |SELECT pg_catalog\.set_config|\\restrict |\\unrestrict |-- Dumped |"
    r"-- PostgreSQL database (cluster )?dump)"
)


def _run(tool: str, url: str, *args: str) -> str:
    done = subprocess.run(
        [str(pg_bindir() / tool), *args, "-d", url], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tool} failed: {done.stderr.strip()}")
    return done.stdout


def _blocks(text: str) -> list[tuple[tuple[str, ...], str]]:
    """pg_dump's objects, each as (schema, name, type; its text without volatile lines)."""
    kept = "\n".join(line for line in text.splitlines() if not VOLATILE.match(line))
    starts = [m.start() for m in HEADER.finditer(kept)]
    found: list[tuple[tuple[str, ...], str]] = []
    for begin, end in zip(starts, [*starts[1:], len(kept)], strict=True):
        body = kept[begin:end].rstrip().removesuffix("--").rstrip()
        match = HEADER.match(body)
        assert match is not None
        name, kind, schema, _owner = match.groups()
        if kind == "ACL":  # grants are listed in the order they were made: sorted, revokes first
            head, _, grants = body.partition("\n--\n")
            lines = sorted(grants.strip().splitlines(), key=lambda g: (g[:6] != "REVOKE", g))
            body = f"{head}\n--\n\n" + "\n".join(lines)
        found.append(((schema, name, kind), "--\n" + body + "\n"))
    return found


def _roles(text: str) -> list[str]:
    """The platform roles' attributes, settings and memberships (never a password)."""
    # a password's expiry is the stack's state (chainlake psql sets one), not the schema's
    return sorted(
        {VALID_UNTIL.sub("", line) for line in text.splitlines() if PLATFORM_ROLE_LINE.match(line)}
    )


def dump(url: str) -> str:
    """The normalized dump of the database at `url` (the operator's URL)."""
    schemas = [arg for name in SCHEMAS for arg in ("--schema", name)]
    objects = _blocks(_run("pg_dump", url, "--schema-only", *schemas))
    roles = _roles(_run("pg_dumpall", url, "--roles-only", "--no-role-passwords"))
    major = server_version(pg_bindir()).split(".")[0]
    parts = [
        "-- chainlake's schema after every migration, normalized: regenerate with `make schema`.\n"
        f"-- Made by pg_dump of PostgreSQL {major}; objects sorted by schema, name and type.\n",
        "-- Roles\n\n" + "\n".join(roles) + "\n",
        *(text for _key, text in sorted(objects)),
    ]
    return "\n".join(parts)


def fresh_dump() -> str:
    """Migrate a new database in a throwaway cluster and dump it."""
    with tempfile.TemporaryDirectory(prefix="chainlake-schema-") as work:
        Path(work).chmod(0o755)  # the postgres OS user must reach it when we run as root
        pg = LocalPostgres(Path(work) / "pg", TEST_SETTINGS)
        pg.start()
        try:
            with psycopg.connect(pg.socket_url(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE chainlake_schema")
            migrate(pg.socket_url("chainlake_schema"))
            return dump(pg.socket_url("chainlake_schema"))
        finally:
            pg.destroy()


def difference(committed: str, fresh: str, limit: int = 200) -> str:
    """A unified diff from the committed dump to the fresh one ('' when equal), cut at `limit`
    lines."""
    lines = list(
        difflib.unified_diff(
            committed.splitlines(),
            fresh.splitlines(),
            str(DUMP.relative_to(REPO)),
            "migrated",
            lineterm="",
        )
    )
    more = [f"... ({len(lines) - limit} more lines)"] if len(lines) > limit else []
    return "\n".join(lines[:limit] + more)


def main(argv: list[str]) -> int:
    fresh = fresh_dump()
    if argv == ["--check"]:
        committed = DUMP.read_text() if DUMP.exists() else ""
        found = difference(committed, fresh)
        if found:
            print(f"{found}\nthe committed schema dump is out of date: run `make schema`")
            return 1
        print("the committed schema dump matches the migrations")
        return 0
    if argv:
        print("usage: python -m chainlake.local.schema [--check]", file=sys.stderr)
        return 2
    DUMP.parent.mkdir(exist_ok=True)
    DUMP.write_text(fresh)
    print(f"wrote {DUMP.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
