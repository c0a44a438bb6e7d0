"""run trace ids: every run keeps the W3C trace id of what started it (the API request's, else a
fresh one), so one id finds its access line, the runner's lines, the job's lines and its spans
(issue 22: traces)."""

from chainlake.migrate import sql_revision

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# The revision's SQL lives beside this file, with the same name and a .sql suffix.
upgrade, downgrade = sql_revision(__file__)
