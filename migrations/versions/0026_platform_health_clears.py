"""platform health clears: a system alert clears when its condition stops holding, and ingest
reports the health of each RPC endpoint (issue 22: health and failover)."""

from chainlake.migrate import sql_revision

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
