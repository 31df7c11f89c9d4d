"""PostgreSQL connection pools (asyncpg); schema migrations are in shared.migrations.

The kernel talks to PostgreSQL through asyncpg directly: the append and relay paths are
hot, and a plain driver keeps them measurable. Each service's tables live in one schema
(``public`` in production, one per test) selected through ``search_path``.
"""

from __future__ import annotations

import contextlib

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


class Connection(asyncpg.Connection):
    """A pooled connection that knows whether a caller left session state on it.

    asyncpg's default reset runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` every time a connection goes back to the pool: one more round trip for every
    ``pool.fetchval``, and with several short reads per command the largest share of a
    command's round trips. Nearly every use leaves nothing behind (transactions end, advisory
    locks are transaction-scoped, cursors live in transactions, LISTEN has a connection of its
    own), so the pool resets only the connections that were marked with
    :func:`holds_session_state`; asyncpg still rolls back any transaction left open and drops
    listeners on every release."""

    session_state = False

    def mark_session_state(self) -> None:
        self.session_state = True


def holds_session_state(conn: asyncpg.Connection) -> None:
    """Call before leaving session state on a pooled connection (a session advisory lock, a
    ``SET`` without ``LOCAL``): the pool then resets the session when it is released."""
    # Through the pool's proxy, to the connection itself. A pool made elsewhere has asyncpg's
    # own reset, which resets every session anyway.
    mark = getattr(conn, "mark_session_state", None)
    if mark is not None:
        mark()


async def _reset(conn: asyncpg.Connection) -> None:
    # asyncpg has already rolled back an open transaction (Connection._reset) when this runs.
    if isinstance(conn, Connection) and conn.session_state:
        conn.session_state = False
        await conn.execute(conn.get_reset_query())


async def create_pool(url: str, schema: str = "public", size: int = 10,
                      lock_timeout: float | None = None) -> asyncpg.Pool:
    if schema != "public":
        conn = await asyncpg.connect(plain_dsn(url))
        try:
            # looked up first: a runtime role may not CREATE on the database, even a no-op
            if await conn.fetchval("SELECT to_regnamespace($1)", f'"{schema}"') is None:
                # IF NOT EXISTS is not safe against a concurrent CREATE (two instances starting
                # on a new schema): the loser fails on pg_namespace's unique index, and the
                # schema is there, which is all that was asked.
                with contextlib.suppress(asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError):
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        finally:
            await conn.close()
    pool = await asyncpg.create_pool(
        plain_dsn(url),
        min_size=1,
        max_size=size,
        connection_class=Connection,
        reset=_reset,
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
