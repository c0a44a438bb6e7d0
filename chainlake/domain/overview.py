"""What an operator watches (`chainlake top`): runs, queues, ingest lag, alert latency and the
busiest orgs, across every org. The operator's only: `alerts.platform_overview` is executable by
no role of the people or the platform's services."""

from __future__ import annotations

from typing import Any

import psycopg

from chainlake.domain import one

Conn = psycopg.Connection[Any]


def platform_overview(conn: Conn) -> dict[str, Any]:
    """The platform now, as one JSON document (sql/alerts/93_overview.sql)."""
    return dict(one(conn, "SELECT alerts.platform_overview() AS overview")["overview"])
