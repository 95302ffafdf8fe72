"""Alembic environment. The connection is always passed in by ``hotline.storage.migrate``."""

from __future__ import annotations

from alembic import context

from hotline.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guidance for people running `alembic` by hand
    raise SystemExit("Run migrations with `hotline db upgrade`, which supplies the connection.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
