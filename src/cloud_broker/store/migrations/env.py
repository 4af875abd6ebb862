"""Alembic environment: runs on the connection the broker hands over, never on its own URL."""

from __future__ import annotations

from alembic import context

from cloud_broker.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
