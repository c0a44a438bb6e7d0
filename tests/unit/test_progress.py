"""Progress bars for long CLI work: drawn on a terminal, and nothing at all where stderr is a
file or a pipe (what scripts read never changes)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

from chainlake.cli.progress import progress_bar

DRAW = (
    "from chainlake.cli.progress import progress_bar\n"
    "with progress_bar('chain 5 backfill', 'chunks') as advance:\n"
    "    for n in range(1, 4):\n"
    "        advance(n, 3)\n"
)


def test_a_bar_is_drawn_on_a_terminal_with_its_count() -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.run(
        [sys.executable, "-c", DRAW], stderr=follower, stdout=follower, env=env, timeout=60
    )
    os.close(follower)
    drawn = b""
    try:
        while chunk := os.read(leader, 65536):
            drawn += chunk
    except OSError:  # the terminal's other end closed
        pass
    os.close(leader)
    assert proc.returncode == 0
    text = drawn.decode(errors="replace")
    assert "chain 5 backfill" in text and "3/3" in text, text


def test_nothing_is_written_where_stderr_is_no_terminal() -> None:
    stream = io.StringIO()
    with progress_bar("writing out.csv", "bytes", stream=stream) as advance:
        advance(10, None)
        advance(20, None)
    assert stream.getvalue() == ""
