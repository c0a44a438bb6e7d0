"""run cancel: a run may be `cancelled` (issue 17: cancel through the CLI and the API)."""

from chainlake.migrate import sql_revision

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
