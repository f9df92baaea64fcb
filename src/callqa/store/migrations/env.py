"""Alembic's environment for callqa's store: migrations run on the connection `callqa db upgrade`
(or the first use of an empty database) hands over; there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from callqa.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
