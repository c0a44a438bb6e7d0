"""Observability of the platform's processes: Prometheus metrics (each process its own
registry), the Postgres collector read at scrape time, readiness checks, and the small HTTP
server a runner exposes them on (docs/operations.md, "Metrics and health")."""
