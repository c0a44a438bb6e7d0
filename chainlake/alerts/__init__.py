"""Alerts: rules and their evaluation live in Postgres (sql/alerts/85_alerts.sql); this package
delivers firings over channels and backtests rules over history."""
