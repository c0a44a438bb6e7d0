"""The catalog: the datasets a caller may read, and search over what they may see."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import rows
from chainlake.errors import InvalidInput

Conn = psycopg.Connection[Any]


def list_datasets(conn: Conn, *, after: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Datasets the caller may read (its orgs' and those shared with them), a page at a time."""
    sql = "SELECT * FROM catalog.list_datasets(p_after => %(after)s, p_limit => %(limit)s)"
    found = rows(conn, sql, {"after": after, "limit": limit})
    following = f"{found[-1]['org']}/{found[-1]['name']}" if len(found) == limit else None
    return {"items": found, "next": following}


def search_catalog(conn: Conn, *, q: str, limit: int = 50) -> dict[str, Any]:
    """Datasets, columns, jobs and saved queries whose name, description, tag or type contains
    `q`, among what the caller may see."""
    if not q.strip():
        raise InvalidInput("q is empty", "search for a word, e.g. transfer")
    sql = "SELECT * FROM catalog.search(p_term => %(q)s, p_limit => %(limit)s)"
    return {"items": rows(conn, sql, {"q": q, "limit": limit}), "next": None}
