"""The unified chain views in DuckDB: `blocks`, `transactions` and `logs` read cold Parquet up to
each chain's watermark and hot rows above it, never both and never neither.

The watermark, the chunk list and the hot rows are read in one REPEATABLE READ snapshot of
Postgres, as the caller (RLS applies), so an archive running meanwhile (which records a chunk,
moves the watermark and prunes hot rows in one transaction) is seen entirely or not at all; chunk
files are immutable and stay in place, so the snapshot's chunk list is always readable. Hot rows
come into DuckDB as Arrow: hot is small by design (pruned once archived).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import duckdb
import psycopg

from chainlake.chain.codec import BIG_COLUMNS, NUMBER_COLUMN, TABLES
from chainlake.chain.cold import to_arrow
from chainlake.storage import ObjectStore


@dataclass
class Snapshot:
    watermarks: dict[int, int | None] = field(default_factory=dict)
    cold_files: dict[str, list[str]] = field(default_factory=dict)
    hot_rows: dict[str, int] = field(default_factory=dict)


def _hot_select(table: str) -> str:
    cols = ", ".join(f"t.{c}::text" if c in BIG_COLUMNS else f"t.{c}" for c in TABLES[table])
    number = NUMBER_COLUMN[table]
    return (
        f"SELECT {cols} FROM chain.{table} t JOIN chain.chains c USING (chain_id) "  # noqa: S608
        f"WHERE t.{number} > coalesce(c.archived_to, c.start_block - 1) "
        f"ORDER BY t.chain_id, t.{number}"
    )


def snapshot_of(context: dict[str, Any], store: ObjectStore) -> Snapshot:
    """The watermarks and cold files of a query context (catalog.query_context())."""
    snapshot = Snapshot(cold_files={table: [] for table in TABLES})
    for chain in context["chains"]:
        snapshot.watermarks[chain["chain_id"]] = chain["archived_to"]
    for files in context["cold"]:
        for table in TABLES:
            snapshot.cold_files[table].append(store.uri(files[table]["key"]))
    return snapshot


def read_hot_in(
    conn: psycopg.Connection[Any], snapshot: Snapshot, tables: Collection[str] = tuple(TABLES)
) -> dict[str, Any]:
    """The hot rows above each watermark as Arrow, read in the caller's transaction (REPEATABLE
    READ, the one the context was read in, so the two agree), only for `tables` (the others
    come back empty: the query does not read them)."""
    hot: dict[str, Any] = {}
    with conn.cursor(binary=True) as cur:
        for table in TABLES:
            rows = cur.execute(_hot_select(table)).fetchall() if table in tables else []
            snapshot.hot_rows[table] = len(rows)
            hot[table] = to_arrow(table, rows)
    return hot


def create_chain_views(
    con: duckdb.DuckDBPyConnection, snapshot: Snapshot, hot: dict[str, Any], schema: str = "main"
) -> None:
    """The views `{schema}.blocks`, `.transactions` and `.logs`: cold files, then hot rows."""
    for table in TABLES:
        columns = list(TABLES[table])
        hot_rel = con.from_arrow(hot[table]).select(*columns)
        files = snapshot.cold_files[table]
        if files:
            cold_rel = con.read_parquet(files).select(*columns)
            view = cold_rel.union(hot_rel)
        else:
            view = hot_rel
        view.create_view(f"{schema}.{table}" if schema != "main" else table, replace=True)
