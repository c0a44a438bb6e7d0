"""pii: a schema of its own for personal data (address labels), read only through audited
functions; asset versions marked for rebuild when the PII they derive from is deleted or
redacted."""

from chainlake.migrate import sql_revision

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
