"""DuckDB connections with the extensions shipped in the duckdb-extension-* wheels (DuckDB cannot
download extensions here): they are linked into a private extension directory and loaded from
there, never installed from the network.

The extension directory is code DuckDB loads, so it is private to the service: the user's cache
(`$CHAINLAKE_DUCKDB_EXTENSIONS`, else `$XDG_CACHE_HOME/chainlake/duckdb-extensions`, else
`~/.cache/chainlake/duckdb-extensions`; never a predictable shared /tmp path), each directory
created 0700, owned by this user (one owned by anybody else, or a symbolic link, is refused; a
looser mode is tightened), and each link checked to point at the wheel's file (one planted there
is replaced)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import duckdb

from chainlake.errors import ChainlakeError

# The wheel's file name, and the name DuckDB loads it under (the postgres extension's entry point
# is postgres_scanner).
_EXTENSIONS = {
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
    "postgres": ("duckdb_extension_postgres", "postgres_scanner"),
}


def extension_root() -> Path:
    """Where the extension directory lives (see the module's docstring)."""
    configured = os.environ.get("CHAINLAKE_DUCKDB_EXTENSIONS")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "chainlake" / "duckdb-extensions"


def private_directory(path: Path) -> Path:
    """`path` as a directory of this user's only (mode 0700), or a clear error."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = os.lstat(path)
    if stat.S_ISLNK(found.st_mode) or not stat.S_ISDIR(found.st_mode):
        raise ChainlakeError(f"DuckDB's extension directory {path} is not a plain directory")
    if found.st_uid != os.getuid():
        raise ChainlakeError(
            f"DuckDB's extension directory {path} belongs to uid {found.st_uid}, not to this "
            f"service's uid {os.getuid()}",
            "remove it, or set CHAINLAKE_DUCKDB_EXTENSIONS to a directory of this user",
        )
    if stat.S_IMODE(found.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def extension_directory() -> Path:
    version = duckdb.__version__
    root = private_directory(extension_root())
    target = private_directory(private_directory(root / f"v{version}") / "linux_amd64")
    for module_name, (package, loaded_as) in _EXTENSIONS.items():
        link = target / f"{loaded_as}.duckdb_extension"
        module = __import__(package)
        source = Path(module.__file__ or "").parent / "extensions" / f"v{version}"
        source = source / f"{module_name}.duckdb_extension"
        if link.is_symlink() and os.readlink(link) == str(source):
            continue
        tmp = link.with_name(link.name + f".{os.getpid()}")
        tmp.unlink(missing_ok=True)
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
