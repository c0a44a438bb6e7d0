"""chain check reports: the scheduled integrity check records what it found, for the chain-check
system alert (issue 22: health and failover)."""

from chainlake.migrate import sql_revision

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
