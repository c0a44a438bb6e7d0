"""The catalog: the datasets a caller may read, and search over what they may see."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import rows
from chainlake.errors import InvalidInput

Conn = psycopg.Connection[Any]


def list_datasets(
    conn: Conn, *, after: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Datasets the caller may read (its orgs' and those shared with them), a page at a time
    (`after`: the last one's `org/name`)."""
    sql = "SELECT * FROM catalog.list_datasets(p_after => %(after)s, p_limit => %(limit)s)"
    return rows(conn, sql, {"after": after, "limit": limit})


def search_catalog(conn: Conn, *, q: str, limit: int = 50) -> list[dict[str, Any]]:
    """Datasets, columns, jobs and saved queries whose name, description, tag or type contains
    `q`, among what the caller may see."""
    if not q.strip():
        raise InvalidInput("q is empty", "search for a word, e.g. transfer")
    sql = "SELECT * FROM catalog.search(p_term => %(q)s, p_limit => %(limit)s)"
    return rows(conn, sql, {"q": q, "limit": limit})
