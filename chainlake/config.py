"""Where chainlake keeps its state, and which database it talks to.

With no configuration, everything lives under `.chainlake/` in the project directory (the nearest
ancestor of the working directory that has one, else the working directory itself).
`CHAINLAKE_HOME` moves it; `CHAINLAKE_DATABASE_URL` points at an existing Postgres instead of the
embedded one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_DIR_NAME = ".chainlake"
DEFAULT_DATABASE = "chainlake"


def find_home(start: Path | None = None) -> Path:
    """The `.chainlake` directory in use: $CHAINLAKE_HOME, an existing one above cwd, or cwd's."""
    env = os.environ.get("CHAINLAKE_HOME")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / HOME_DIR_NAME
        if candidate.is_dir():
            return candidate
    return here / HOME_DIR_NAME


@dataclass(frozen=True)
class Settings:
    home: Path
    external_database_url: str | None

    @classmethod
    def load(cls) -> Settings:
        return cls(
            home=find_home(),
            external_database_url=os.environ.get("CHAINLAKE_DATABASE_URL") or None,
        )

    @property
    def postgres_dir(self) -> Path:
        return self.home / "pg"

    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.json"

    @property
    def dev_issuer_dir(self) -> Path:
        return self.home / "dev-issuer"
