"""held aside: alert rules set aside while their writer held them locked (the noisy-neighbour
suite of issue 14)."""

from chainlake.migrate import sql_revision

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
