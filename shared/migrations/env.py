"""Alembic environment of every carecoord database.

Run through :func:`shared.migrations.upgrade`, which hands over an open connection (in the
``connection`` attribute) whose search_path is the service's schema; the version table lives
in that schema too, so test schemas in one database migrate independently."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

context.configure(connection=connection, version_table_schema=schema, include_schemas=False,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
