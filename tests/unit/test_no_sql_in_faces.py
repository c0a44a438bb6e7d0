"""The faces hold no SQL, and each stored function is called from one place (DESIGN.md section
2): SQL text lives in sql/, rls_policies/ and migrations/, and in the domain functions' one-line
calls (chainlake/domain/) or the library floor's internals. The CLI and the API call the domain.

Read with `ast`, so that docstrings, comments and help texts do not count; only string
constants the code runs."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FACES = ("api", "chainlake/cli")
FLOORS = ("chainlake", "api", "runner")
SQL = re.compile(
    r"^\s*(SELECT\s+(\*|DISTINCT\s|\d|%|[\w.\"]+\s*(\(|,|\s+FROM\b|\s+AS\b|$))|INSERT\s+INTO\s|UPDATE\s+[\w.\"]+\s+SET\s|DELETE\s+FROM\s"
    r"|WITH\s+(RECURSIVE\s+)?\w+\s+AS\s*\(|CALL\s+[\w.]+\s*\(|SET\s+(LOCAL\s+|SESSION\s+)?"
    r"[\w.]+\s*(=|TO\s))",
    re.IGNORECASE,
)
SCHEMAS = "core|catalog|jobs|runs|chain|alerts|audit|pii|pgmq"
STORED = re.compile(rf"\b({SCHEMAS})\.([a-z_][a-z0-9_]*)\s*\(")


def constants(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of each string constant of a module that is not a docstring."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        if isinstance(node.value, str):
            yield node.lineno, node.value


def sources(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def sql_in_faces() -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()[:70]!r}"
        for path in sources(*FACES)
        for line, text in constants(path)
        if SQL.match(text)
    ]


def callers() -> dict[str, set[str]]:
    """Each stored function named in code, and the modules whose statements call it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sources(*FLOORS):
        for _, text in constants(path):
            for schema, name in STORED.findall(text):
                found[f"{schema}.{name}"].add(str(path.relative_to(ROOT)))
    return found


def test_the_api_and_the_cli_hold_no_sql() -> None:
    offenders = sql_in_faces()
    assert not offenders, "SQL text in a face; call a domain function instead:\n" + "\n".join(
        offenders
    )


def test_each_stored_function_is_called_from_one_place() -> None:
    many = {f: sorted(where) for f, where in callers().items() if len(where) > 1}
    said = [f"{f}: {', '.join(where)}" for f, where in sorted(many.items())]
    assert not many, "stored functions called from more than one module:\n" + "\n".join(said)


def test_the_checks_see_sql_and_calls(tmp_path: Path) -> None:
    """The patterns catch what they are for, and not help texts: the tests above cannot pass
    vacuously."""
    assert SQL.match("SELECT * FROM runs.list(p_org => %(org)s)")
    assert SQL.match("delete from jobs.secrets where true")
    assert SQL.match("SET LOCAL role = x") and SQL.match("CALL core.force_rls('x')")
    for help_text in ("Delete rule NAME of --org.", "Set secret NAME.", "Select an org"):
        assert not SQL.match(help_text), help_text
    module = tmp_path / "m.py"
    module.write_text('"""SELECT 1 FROM x (a docstring)"""\nQ = "SELECT alerts.delete_rule(%s)"\n')
    assert [t for _, t in constants(module)] == ["SELECT alerts.delete_rule(%s)"]
    assert STORED.findall("SELECT * FROM catalog.find_query(p_org => 1)") == [
        ("catalog", "find_query")
    ]
