"""Alembic's environment: always given an open connection by `gateway.index.migrate` (never a URL)."""

from __future__ import annotations

from alembic import context

from gateway.index.tables import metadata

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a table only by copying it; Alembic's batch mode does that.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
