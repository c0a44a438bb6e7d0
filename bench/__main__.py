"""`make bench` runs every benchmark; `make bench BENCH=name` runs one.

Each benchmark prints its figures beside a peer measured in the same run, and the runner merges
them into bench/results/latest.json (one key per figure) and bench/results/latest.md.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def available() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name not in {"common", "__main__"}
    )


def merge(figures: dict[str, Any]) -> dict[str, Any]:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "latest.json"
    merged: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    merged.update(figures)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return merged


def markdown(figures: dict[str, Any]) -> str:
    lines = ["| figure | value | peer | unit | note |", "| --- | --- | --- | --- | --- |"]
    for key in sorted(figures):
        fig = figures[key] if isinstance(figures[key], dict) else {"value": figures[key]}
        lines.append(
            f"| {key} | {fig['value']} | {fig.get('peer', '')} | {fig.get('unit', '')} "
            f"| {fig.get('note', '')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    names = [n for n in argv if n] or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    figures: dict[str, Any] = {}
    for name in names:
        print(f"== {name}")
        module = importlib.import_module(f"bench.{name}")
        result: dict[str, Any] = module.run()
        for key, fig in result.items():
            print(f"  {key}: {json.dumps(fig)}")
        figures.update(result)
    merged = merge(figures)
    stamp = f"Updated {datetime.now(UTC).isoformat(timespec='seconds')}.\n\n"
    (RESULTS / "latest.md").write_text(stamp + markdown(merged))
    print(f"wrote {RESULTS / 'latest.json'} and latest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
