"""reorg supersession: block-range partitions as ranges whose current versions never overlap,
versions superseded by a reorg (or replaced), the chain ranges a run really read."""

from chainlake.migrate import sql_revision

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
