"""Alembic environment: migrations run on the connection the gateway hands over at start."""

from alembic import context

from callbridge.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through callbridge (Database.migrate), which passes a connection")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
