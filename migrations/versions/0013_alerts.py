"""alerts: rule details, firings, deliveries, channels."""

from chainlake.migrate import sql_revision

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
