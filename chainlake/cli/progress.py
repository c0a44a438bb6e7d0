"""Progress bars for long CLI work (a chain backfill, an asset backfill followed with --wait, a
query result written to a file): drawn on stderr when it is a terminal, and nothing otherwise, so
what a script reads (stdout, and the lines a command prints) never changes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# advance(done, total): `done` so far of `total` (None: not known, a count or a byte total)
Advance = Callable[[int, int | None], None]


def _unseen(_done: int, _total: int | None = None) -> None:
    """No terminal: nothing is drawn."""


@contextmanager
def progress_bar(
    description: str, unit: str = "items", stream: IO[str] | None = None
) -> Iterator[Advance]:
    """A bar on `stream` (stderr) while the block runs, when it is a terminal; `advance(done,
    total)` moves it. `unit` "bytes" shows sizes, anything else counts."""
    console = Console(file=stream or sys.stderr)
    if not console.is_terminal:
        yield _unseen
        return
    counted = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        counted,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int | None = None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
