"""Pages of a listing. A listing operation returns its rows (a list, the same JSON locally and
through the API client); the API answers them as a page, `{"items": [...], "next": ...}`, where
`next` is the `after` of the following page (None on the last)."""

from __future__ import annotations

from typing import Any


def next_after(items: list[dict[str, Any]], limit: int, key: str = "cursor") -> str | None:
    """The `after` of the page that follows `items` (a page of `limit`): the last item's `key`
    when the page is full, else None."""
    if not items or len(items) < limit:
        return None
    return str(items[-1][key])
