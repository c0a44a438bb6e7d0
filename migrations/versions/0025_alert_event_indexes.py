"""alert event indexes: a listen stream reads firings by org and time (issue 17)."""

from chainlake.migrate import sql_revision

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
