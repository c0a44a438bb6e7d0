"""The house has floors (DESIGN.md section 2). The library floor (`chainlake/` but the CLI and the
local stack) imports no face (`runner/`, `api/`, the CLI) and not the local stack; `runner/`,
`api/` and the CLI never import each other; the local stack imports no face; jobs import only the
SDK (the platform's own jobs, under jobs/system/, also the engine they drive: docs/decisions.md);
the SDK imports nothing else of the platform. `sql/` is grouped by schema in one global order."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = re.compile(r"chainlake\.cli(_\w+)?")  # the CLI: the package, or today's cli*.py modules
PLATFORM = ("chainlake", "runner", "api", "jobs", "tests", "bench")
# What a platform job may import besides the SDK: the engine it drives, and what that needs.
SYSTEM_JOB_ENGINES = (
    "chainlake.chain.ingest",
    "chainlake.chain.archive",
    "chainlake.storage",
    "chainlake.alerts.deliver",
)


def within(name: str, *modules: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def is_cli(name: str) -> bool:
    top = ".".join(name.split(".")[:2])
    return bool(CLI.fullmatch(top))


def is_local(name: str) -> bool:
    return within(name, "chainlake.local")


def is_face(name: str) -> bool:
    return within(name, "runner", "api") or is_cli(name)


def imported(path: Path) -> set[str]:
    """Every module a file imports, `from a import b` counted as both `a` and `a.b`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def violations(
    paths: list[Path], forbidden: Callable[[str], bool], skip: Callable[[Path], bool] = bool
) -> list[str]:
    found = []
    for path in paths:
        if skip(path):
            continue
        bad = sorted(n for n in imported(path) if forbidden(n))
        if bad:
            found.append(f"{path.relative_to(ROOT)} imports {bad}")
    return found


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def is_face_or_local_file(path: Path) -> bool:
    rel = path.relative_to(ROOT / "chainlake").parts
    return rel[0] == "local" or bool(re.fullmatch(r"cli(_\w+)?(\.py)?", rel[0]))


def test_the_library_floor_imports_no_face_and_not_the_local_stack() -> None:
    def forbidden(name: str) -> bool:
        return is_face(name) or is_local(name) or within(name, "jobs", "tests", "bench")

    assert violations(python_files("chainlake"), forbidden, is_face_or_local_file) == []


def test_the_local_stack_imports_no_face() -> None:
    assert violations(python_files("chainlake/local"), is_face) == []


def test_runner_api_and_the_cli_never_import_each_other() -> None:
    cli = [p for p in python_files("chainlake") if is_face_or_local_file(p)]
    cli = [p for p in cli if "local" not in p.relative_to(ROOT / "chainlake").parts[:1]]
    assert cli, "the CLI's files were not found"
    assert violations(python_files("runner"), lambda n: within(n, "api") or is_cli(n)) == []
    assert violations(python_files("api"), lambda n: within(n, "runner") or is_cli(n)) == []
    assert violations(cli, lambda n: within(n, "runner", "api")) == []


def test_runner_and_api_do_not_import_the_local_stack() -> None:
    assert violations(python_files("runner") + python_files("api"), is_local) == []


def test_jobs_import_only_the_sdk() -> None:
    def tenant_forbidden(name: str) -> bool:
        return within(name, *PLATFORM) and not within(name, "chainlake.sdk")

    def system_forbidden(name: str) -> bool:
        allowed = within(name, "chainlake.sdk", *SYSTEM_JOB_ENGINES) or name == "chainlake"
        return within(name, *PLATFORM) and not allowed

    system = ROOT / "jobs" / "system"
    assert violations(python_files("jobs"), tenant_forbidden, lambda p: system in p.parents) == []
    assert violations(python_files("jobs/system"), system_forbidden) == []


def test_the_sdk_imports_nothing_else_of_the_platform() -> None:
    def forbidden(name: str) -> bool:
        return within(name, *PLATFORM) and not within(name, "chainlake.sdk")

    assert violations(python_files("chainlake/sdk"), forbidden) == []


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    """The checks above see `from chainlake import local`, a CLI module and a face's import."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from chainlake import local, jobdefs\nimport chainlake.cli_chain\n"
        "from chainlake.cli.common import acting\nfrom api import app\n"
        "from chainlake.client import Client\n"
    )
    names = imported(sample)
    assert {n for n in names if is_local(n)} == {"chainlake.local"}
    assert {n for n in names if is_cli(n)} >= {"chainlake.cli_chain", "chainlake.cli.common"}
    assert {n for n in names if is_face(n)} >= {"api", "api.app"}
    assert not is_cli("chainlake.client") and not is_cli("chainlake.client.base")


def test_sql_is_grouped_by_schema_in_one_global_order() -> None:
    """Every sql/ file is in its schema's folder and starts with a number no other file has:
    `chainlake migrate` applies them by that number, whatever the folder."""
    files = sorted((ROOT / "sql").rglob("*.sql"))
    assert files
    for path in files:
        rel = path.relative_to(ROOT / "sql").parts
        assert len(rel) == 2, f"sql/{'/'.join(rel)}: a file belongs in sql/<schema>/"
        assert re.fullmatch(r"[0-9]{2}_[a-z0-9_]+\.sql", rel[1]), f"sql/{'/'.join(rel)}"
    numbers = [p.name[:2] for p in files]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    assert not twice, f"sql/ files share the numbers {twice}: each says where it applies"
