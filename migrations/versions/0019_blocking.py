"""blocking: session limits per org for users' own login roles (connections, statement, lock
and idle timeouts, the longest transaction), the API path's timeouts, row locks no tenant can
take, and a schedule's last error."""

from chainlake.migrate import sql_revision

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
