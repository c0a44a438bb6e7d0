"""Run the real `chainlake` console script as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHAINLAKE = str(Path(sys.executable).parent / "chainlake")


def run(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run(
        [CHAINLAKE, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
