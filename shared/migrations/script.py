"""Run a multi-statement SQL script from a migration.

Revisions are written as plain PostgreSQL DDL (named constraints, functions, partial
indexes). SQLAlchemy's asyncpg dialect prepares every statement, and a prepared statement
holds one command; asyncpg's own ``execute`` without arguments uses the simple query
protocol, which takes a whole script, so scripts go to the driver connection directly."""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_


def run_script(sql: str) -> None:
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_(driver.execute(sql))
