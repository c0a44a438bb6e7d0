"""The house has floors (DESIGN.md section 2): chainlake/ imports none of runner/, api/, jobs/;
runner/ and api/ never import each other; the SDK imports nothing else of the platform."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_tops(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_each_floor_imports_only_from_below() -> None:
    rules = {"chainlake": {"runner", "api", "jobs"}, "runner": {"api"}, "api": {"runner"}}
    for floor, forbidden in rules.items():
        for path, names in imported_tops(ROOT / floor).items():
            bad = {n for n in names if n.split(".")[0] in forbidden}
            assert not bad, f"{path} imports {sorted(bad)}"


def test_the_sdk_imports_nothing_else_of_the_platform() -> None:
    for path, names in imported_tops(ROOT / "chainlake" / "sdk").items():
        bad = {n for n in names if n.split(".")[0] == "chainlake"}
        assert not bad, f"{path} imports {sorted(bad)}"
