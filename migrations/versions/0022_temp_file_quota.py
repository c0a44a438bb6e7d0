"""temp file quota: the temporary disk one user session may fill (a review finding)."""

from chainlake.migrate import sql_revision

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
