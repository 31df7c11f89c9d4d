"""A pooled connection is reset on release only when a caller left session state on it."""

from __future__ import annotations

import asyncio

import asyncpg

from shared.db import create_pool, holds_session_state, plain_dsn

LOCK = 424242


async def _released_queries(pool: asyncpg.Pool, mark: bool) -> tuple[list[str], int]:
    """The statements sent while one connection takes a session lock and goes back to the
    pool, and the session lock count of that backend once it is back."""
    sent: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: sent.append(record.query))
        if mark:
            holds_session_state(conn)
        await conn.execute("SET statement_timeout = 1234")
        await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
    locks = await pool.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 "
                                "AND objid = $2", backend, LOCK)
    return sent, int(locks)


async def test_a_marked_connection_is_reset_and_loses_its_lock_and_settings(pg_url: str, schema: str) -> None:
    pool = await create_pool(pg_url, schema, size=1)  # one connection: the next acquire gets the same
    try:
        sent, locks = await _released_queries(pool, mark=True)
        assert any("pg_advisory_unlock_all" in q and "RESET ALL" in q for q in sent)
        assert locks == 0
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "0"
    finally:
        await pool.close()


async def test_an_unmarked_connection_goes_back_without_a_round_trip(pg_url: str, schema: str) -> None:
    pool = await create_pool(pg_url, schema, size=1)
    try:
        sent, locks = await _released_queries(pool, mark=False)
        assert not any("RESET ALL" in q for q in sent)
        assert locks == 1  # nothing reset it: what the mark is for
        async with pool.acquire() as conn:
            holds_session_state(conn)  # clean up the lock and the setting
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_still_rolled_back(pg_url: str, schema: str) -> None:
    pool = await create_pool(pg_url, schema, size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE t (x int)")
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO t VALUES (1)")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM t") == 0
    finally:
        await pool.close()


async def test_instances_starting_together_on_a_new_schema_all_get_a_pool(pg_url: str, schema: str) -> None:
    """Two pods of a service starting at once on a schema that does not exist yet: CREATE SCHEMA
    IF NOT EXISTS is not safe against a concurrent one, and the loser must not fail to start."""
    admin = await asyncpg.connect(plain_dsn(pg_url))
    try:
        for attempt in range(10):
            fresh = f"{schema}_race{attempt}"
            pools = await asyncio.gather(*(create_pool(pg_url, fresh, size=1) for _ in range(4)))
            try:
                assert [await p.fetchval("SELECT current_schema()") for p in pools] == [fresh] * 4
            finally:
                for p in pools:
                    await p.close()
                await admin.execute(f'DROP SCHEMA "{fresh}" CASCADE')
    finally:
        await admin.close()
