"""What the CLI prints is shown, never obeyed: text that comes from a server (a problem's
detail, a device code, a run's log line, a dataset's values) may hold terminal control
sequences that retitle the terminal, clear it, draw a fake prompt or, on some terminals, write
the clipboard. The CLI's text streams pass through `ShownText`, which writes each control
character as its escape (`\\x1b`); binary output (downloads to stdout) goes to `.buffer` as is."""

from __future__ import annotations

import io
import re
import sys
from typing import Any, TextIO

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all a terminal acts on, but \t and \n


def shown(text: str) -> str:
    """`text` with each control character written as its escape."""
    return CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


class ShownText(io.TextIOBase):
    """A text stream that writes what it is given through `shown`."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(shown(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.inner.encoding

    @property
    def buffer(self) -> Any:
        return self.inner.buffer


def show_only() -> None:
    """Route the process's stdout and stderr through `ShownText` (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, ShownText):
            setattr(sys, name, ShownText(stream))
