"""sign-ins: the first request of each bearer token, so that a login is one audit event."""

from chainlake.migrate import sql_revision

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
