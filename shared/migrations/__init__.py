"""Schema migrations with Alembic: one environment, one version history per database.

The kernel's tables (event store, outbox, projection tracking, idempotency keys, patient
directory, access log) are the ``kernel`` branch in ``shared/migrations/versions``; a
service's own tables are a branch of its own in ``services/<name>/migrations/versions``
that depends on the kernel's. ``carecoord db upgrade [SERVICE]`` applies them (``make up``
does, and a deployment's pre-start step should); a service also upgrades its database when
it starts, so a test or a single-process install needs no separate step. Several instances
starting together serialise on an advisory lock: the second finds nothing to do.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from shared.db import plain_dsn, pool_target

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KERNEL = "kernel"
# Transaction-scoped advisory lock held while a database is migrated.
MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"carecoord:migrations").digest()[:4], "big", signed=True)


def version_locations() -> list[Path]:
    """The kernel's revisions and every service's: a database holds one service's branch,
    but Alembic must know all of them to read any database's version table."""
    services = sorted((ROOT / "services").glob("*/migrations/versions"))
    return [HERE / "versions", *services]


def has_branch(service: str) -> bool:
    return (ROOT / "services" / service / "migrations" / "versions").is_dir()


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()))
    return cfg


def _engine_target(dsn: str) -> tuple[str, dict[str, Any]]:
    """SQLAlchemy's URL and connect arguments for a libpq-style URL: asyncpg takes
    ``sslmode`` as its ``ssl`` argument, not as a URL parameter SQLAlchemy passes on."""
    _, sep, rest = plain_dsn(dsn).partition("://")
    base, _, query = rest.partition("?")
    options = dict(parse_qsl(query))
    connect_args: dict[str, Any] = {}
    if "sslmode" in options:
        connect_args["ssl"] = options.pop("sslmode")
    url = f"postgresql+asyncpg{sep}{base}" + (f"?{urlencode(options)}" if options else "")
    return url, connect_args


def _targets(service: str | None) -> list[str]:
    return [f"{KERNEL}@head", *([f"{service}@head"] if service and has_branch(service) else [])]


def heads(service: str | None = None) -> set[str]:
    """The revisions a current database of ``service`` records in its version table."""
    script = ScriptDirectory.from_config(config())
    return {rev.revision for rev in script.get_revisions(_targets(service)) if rev is not None}


async def is_current(dsn: str, schema: str = "public", service: str | None = None) -> bool:
    """True when ``schema`` is at the newest revisions: read with SELECT alone, so a runtime
    role (which may not create or alter anything) can start on a database migrated for it."""
    conn = await asyncpg.connect(plain_dsn(dsn))
    try:
        table = await conn.fetchval("SELECT to_regclass($1)", f'"{schema}".alembic_version')
        if table is None:
            return False
        recorded = {row[0] for row in await conn.fetch(f'SELECT version_num FROM "{schema}".alembic_version')}
    finally:
        await conn.close()
    return recorded == heads(service)


async def upgrade(dsn: str, schema: str = "public", service: str | None = None) -> None:
    """Bring ``schema`` up to the newest kernel revision and, with ``service``, that
    service's own; idempotent, and nothing but a read when the schema is current."""
    if await is_current(dsn, schema, service):
        return
    cfg = config()
    targets = _targets(service)
    url, connect_args = _engine_target(dsn)
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(:s))"),
                               {"k": MIGRATION_LOCK, "s": schema})

            def run(sync: Connection) -> None:
                cfg.attributes.update(connection=sync, schema=schema)
                for target in targets:
                    command.upgrade(cfg, target)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def upgrade_pool(pool: Any, service: str | None = None) -> None:
    """:func:`upgrade` for the database and schema of a pool made by ``shared.db.create_pool``."""
    dsn, schema = pool_target(pool)
    await upgrade(dsn, schema, service)


