"""Backtest a rule over any block range, hot or cold: the range's rows (cold chunks under the
watermark, hot rows above it, read in one snapshot) are copied into this session's temporary
tables, and Postgres evaluates the rule over them exactly as it does live (alerts.backtest).
Nothing is kept or delivered unless asked."""

from __future__ import annotations

import io
from typing import Any

import psycopg
import pyarrow.compute as pc
import pyarrow.parquet as pq
from psycopg import sql
from psycopg.rows import dict_row

from chainlake.chain.codec import NUMBER_COLUMN, TABLES
from chainlake.chain.cold import chunks_between
from chainlake.errors import InvalidInput, NotFound, translate
from chainlake.storage import ObjectStore


def _load(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    chain_id: int,
    table: str,
    first: int,
    last: int,
    mark: int,
) -> int:
    """Rows of `table` for blocks first..last into pg_temp.backtest_<table>: cold (<= mark)
    from the chunks, hot from Postgres."""
    number, columns = NUMBER_COLUMN[table], TABLES[table]
    temp = sql.Identifier(f"backtest_{table}")
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            temp, sql.Identifier("chain", table)
        )
    )
    # the rule's condition runs as chainlake_evaluator, which reads only what it evaluates
    conn.execute(sql.SQL("GRANT SELECT ON {} TO chainlake_evaluator").format(temp))
    count = 0
    if first <= mark:
        chunks = chunks_between(conn, chain_id, first, min(last, mark))
        with (
            conn.cursor() as cur,
            cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(temp, cols)) as copy,
        ):
            for _, _, files in chunks:
                data = pq.read_table(io.BytesIO(store.get(files[table]["key"])))
                keep = pc.and_(
                    pc.greater_equal(data[number], first),
                    pc.less_equal(data[number], min(last, mark)),
                )
                for record in data.filter(keep).to_pylist():
                    copy.write_row([record[c] for c in columns])
                    count += 1
    if last > mark:
        cur = conn.execute(
            sql.SQL(
                "INSERT INTO {temp} ({cols}) SELECT {cols} FROM {src} "
                "WHERE chain_id = %s AND {num} BETWEEN %s AND %s"
            ).format(
                temp=temp,
                cols=cols,
                src=sql.Identifier("chain", table),
                num=sql.Identifier(number),
            ),
            (chain_id, max(first, mark + 1), last),
        )
        count += cur.rowcount
    return count


def backtest(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    org: str,
    rule: str,
    chain_id: int,
    first: int,
    last: int,
    deliver: bool = False,
) -> list[dict[str, Any]]:
    """The firings `rule` would have made over blocks first..last of the chain (as the
    connection's identity; RLS decides which rules it may backtest). With `deliver`, they are
    committed as live firings and delivered (those live evaluation already made are not)."""
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if idle:  # else the caller's transaction (the API's, REPEATABLE READ) is the snapshot
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction(force_rollback=not deliver):
            found = conn.execute(
                "SELECT r.dataset, coalesce(r.window_blocks, 1) FROM alerts.rules r "
                "JOIN core.orgs o ON o.id = r.org_id WHERE o.name = %s AND r.name = %s",
                (org, rule),
            ).fetchone()
            if found is None:
                raise NotFound(f'no alert rule "{rule}" in org "{org}" that you may see')
            if first > last:
                raise InvalidInput(f"from: block {first} is after to: block {last}")
            dataset, window = found
            mark_row = conn.execute(
                "SELECT coalesce(archived_to, start_block - 1) FROM chain.chains "
                "WHERE chain_id = %s",
                (chain_id,),
            ).fetchone()
            if mark_row is None:
                raise NotFound(f"chain {chain_id} is not ingested here")
            table = dataset.removeprefix("chain.")
            start = first - int(window) + 1  # a window ending at `first` reaches back
            _load(conn, store, chain_id, "blocks", start, last, mark_row[0])
            if table != "blocks":
                _load(conn, store, chain_id, table, start, last, mark_row[0])
            with conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT * FROM alerts.backtest(%s, %s, %s, %s, %s, %s) "
                    "ORDER BY to_block, match_key",
                    (org, rule, chain_id, first, last, deliver),
                ).fetchall()
    except psycopg.Error as exc:
        raise translate(exc) from exc
    finally:
        if idle:
            conn.isolation_level = None
    return rows
