"""Alembic environment: runs migrations on the connection berth hands it."""

from __future__ import annotations

from alembic import context

from berth.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - berth always passes a connection
    raise RuntimeError("berth runs migrations through berth.db.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
