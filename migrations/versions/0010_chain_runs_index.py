"""chain runs: find a job's last run quickly."""

from chainlake.migrate import sql_revision

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
