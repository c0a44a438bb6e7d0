"""object grants: a dataset or saved query shared with another org."""

from chainlake.migrate import sql_revision

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
