"""Alembic environment: `chainlake migrate` hands in an open SQLAlchemy connection."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    version_table_schema="chainlake_meta",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
