"""executed columns: every rule's predicate is its checked condition again (SECURITY.md 21)."""

from chainlake.migrate import sql_revision

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
