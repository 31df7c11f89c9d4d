"""The SQLAlchemy tables the queries use describe the tables the migration makes: same
columns, types, nullability, and constraint and index names."""

from __future__ import annotations

import asyncpg
from sqlalchemy import Index
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import Constraint

from services.coordination.migrations import migrate_read_models
from services.coordination.tables import metadata


def _type(column: asyncpg.Record) -> str:
    """The type as SQLAlchemy compiles it: information_schema says only ARRAY for ``text[]``
    (the element type is the udt name, ``_text``)."""
    if column["data_type"] == "ARRAY":
        return f"{column['udt_name'].removeprefix('_')}[]"
    return str(column["data_type"])


async def test_tables_match_the_migration(pool: asyncpg.Pool) -> None:
    await migrate_read_models(pool)
    for table in metadata.sorted_tables:
        rows = await pool.fetch(
            "SELECT column_name, data_type, udt_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position", table.name)
        assert [(r["column_name"], _type(r), r["is_nullable"] == "YES") for r in rows] == [
            (c.name, c.type.compile(dialect=postgresql.dialect()).lower(), c.nullable)
            for c in table.columns], table.name
        constraints = {r["conname"] for r in await pool.fetch(
            "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype <> 'n'", table.name)}
        assert constraints == {c.name for c in table.constraints if isinstance(c, Constraint)}, table.name
        indexes = {r["indexname"] for r in await pool.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1", table.name)}
        declared = {i.name for i in table.indexes if isinstance(i, Index)}
        assert declared <= indexes and indexes - declared <= constraints, table.name
