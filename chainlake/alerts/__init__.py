"""Alerts: rules and their evaluation live in Postgres (sql/alerts/85_alerts.sql); this package
delivers firings over channels and backtests rules over history."""

# One rule by org and name, as the caller sees it (the CLI's `alert show`, the API's GET).
ONE_RULE = "SELECT * FROM alerts.list_rules(NULL, 1000) WHERE org = %s AND name = %s"
