"""egress: the operator's allow-list and the platform's own addresses for outbound calls made on
a tenant's behalf (chainlake/outbound.py), and an index for fair alert delivery per org."""

from chainlake.migrate import sql_revision

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
