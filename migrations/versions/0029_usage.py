"""Cost per org: each attempt's CPU seconds and peak memory, a row per query through the query
service, and a daily CPU-seconds quota (issue 22 item 2)."""

from chainlake.migrate import sql_revision

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
