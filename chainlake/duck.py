"""DuckDB connections with the extensions shipped in the duckdb-extension-* wheels (DuckDB cannot
download extensions here): they are linked into a private extension directory and loaded from
there, never installed from the network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import duckdb

# The wheel's file name, and the name DuckDB loads it under (the postgres extension's entry point
# is postgres_scanner).
_EXTENSIONS = {
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
    "postgres": ("duckdb_extension_postgres", "postgres_scanner"),
}


def extension_directory() -> Path:
    version = duckdb.__version__
    root = Path(tempfile.gettempdir()) / f"chainlake-duckdb-{os.getuid()}"
    target = root / f"v{version}" / "linux_amd64"
    target.mkdir(parents=True, exist_ok=True)
    for module_name, (package, loaded_as) in _EXTENSIONS.items():
        link = target / f"{loaded_as}.duckdb_extension"
        if link.exists():
            continue
        module = __import__(package)
        source = Path(module.__file__ or "").parent / "extensions" / f"v{version}"
        source = source / f"{module_name}.duckdb_extension"
        tmp = link.with_name(link.name + f".{os.getpid()}")
        tmp.symlink_to(source)
        os.replace(tmp, link)
    return root


def connect(*extensions: str, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with `extensions` loaded (from the wheels) and autoinstall off."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "extension_directory": str(extension_directory()),
    }
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(":memory:", config=config)
    for name in extensions:
        con.execute(f"LOAD {_EXTENSIONS[name][1]}")
    return con
