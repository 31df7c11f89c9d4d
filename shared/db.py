"""PostgreSQL connection pools and versioned SQL migrations (asyncpg).

The kernel talks to PostgreSQL through asyncpg directly: the append and relay paths are
hot, and a plain driver keeps them measurable. Each service's tables live in one schema
(``public`` in production, one per test) selected through ``search_path``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


def plain_dsn(url: str) -> str:
    """Accept SQLAlchemy-style URLs (``postgresql+asyncpg://``) as well as plain ones."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


# Session settings of every pool: no wait, lock or transaction can hang a service for longer
# than these, whatever the other side does. A lock wait past LOCK_TIMEOUT fails (SQLSTATE
# 55P03, environmental: the command is answered 503 and may be retried); a session left idle
# inside a transaction (a paused or stuck process holding the append lock or row locks) is
# ended by the server; keepalives end the sessions of a client host that vanished from the
# network, which would otherwise hold their locks until the kernel gives up (hours).
SESSION_SETTINGS = {
    "lock_timeout": "10s",
    "idle_in_transaction_session_timeout": "60s",
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}


async def create_pool(url: str, schema: str = "public", size: int = 10,
                      lock_timeout: float | None = None) -> asyncpg.Pool:
    if schema != "public":
        conn = await asyncpg.connect(plain_dsn(url))
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        finally:
            await conn.close()
    pool = await asyncpg.create_pool(
        plain_dsn(url),
        min_size=1,
        max_size=size,
        server_settings={"search_path": schema, "application_name": "carecoord", **SESSION_SETTINGS,
                         **({"lock_timeout": f"{int(lock_timeout * 1000)}ms"} if lock_timeout else {})},
    )
    assert pool is not None
    _TARGETS[id(pool)] = (url, schema)
    return pool


# Where each pool points, so components handed a pool can migrate its schema (see
# shared.migrations.upgrade_pool). asyncpg pools take no attributes of ours.
_TARGETS: dict[int, tuple[str, str]] = {}


def pool_target(pool: asyncpg.Pool) -> tuple[str, str]:
    """The URL and schema a pool of :func:`create_pool` connects to."""
    try:
        return _TARGETS[id(pool)]
    except KeyError:
        raise LookupError("this pool was not made by shared.db.create_pool") from None


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


async def migrate(pool: asyncpg.Pool, component: str, migrations: Sequence[Migration]) -> None:
    """Apply ``migrations`` of ``component`` once each, in order, under an advisory lock so
    several instances starting together do not race."""
    key = int.from_bytes(hashlib.sha256(f"migrate:{component}".encode()).digest()[:8], "big", signed=True)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", key)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component text NOT NULL, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, name))"
        )
        done = {r["name"] for r in await conn.fetch(
            "SELECT name FROM schema_migrations WHERE component = $1", component)}
        for m in migrations:
            if m.name not in done:
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, name) VALUES ($1, $2)", component, m.name)
