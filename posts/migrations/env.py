"""Alembic environment: always run on the connection :meth:`posts.store.Store.migrate` gives."""

from alembic import context
from sqlmodel import SQLModel

import posts.models  # noqa: F401  (registers the tables for autogenerate)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
