"""fairness and quotas: a per-org index on the run queue, API request counts."""

from chainlake.migrate import sql_revision

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
