"""A page of a listing: `{"items": [...], "next": ...}`, where `next` is the `after` of the
following page (None on the last). Listing functions whose rows carry a `cursor` column."""

from __future__ import annotations

from typing import Any


def page(found: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """The rows without their `cursor`; `next` is the last one's when the page is full."""
    following = found[-1]["cursor"] if found and len(found) == limit else None
    return {
        "items": [{k: v for k, v in r.items() if k != "cursor"} for r in found],
        "next": following,
    }
