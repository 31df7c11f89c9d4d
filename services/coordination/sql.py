"""SQLAlchemy Core statements run on the service's asyncpg pool.

Why compile instead of using SQLAlchemy's asyncpg engine: the projection writes inside the
projection runner's own asyncpg transaction (with its tracking rows), and every service
already holds one asyncpg pool whose connections carry the service's ``search_path``. An
engine would bring a second pool and could not join that transaction. So statements are
built with SQLAlchemy Core (optional filters compose cleanly) and compiled once per call for
the PostgreSQL asyncpg dialect, which renders ``$n`` placeholders with explicit casts.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@cache
def dialect() -> Dialect:
    return asyncpg_dialect.dialect()  # type: ignore[no-any-return]


def compiled(statement: ClauseElement) -> tuple[str, list[Any]]:
    """(SQL with ``$1…`` placeholders, the arguments in their order)."""
    c = statement.compile(dialect=dialect())
    assert isinstance(c, SQLCompiler)
    return c.string, [c.params[name] for name in (c.positiontup or ())]
