"""``PostgresEventStore.append_on``: the event store's append on the caller's connection, inside
the caller's transaction (what coordination's flags need: flags, change log and flag events
commit together). The same store contract as ``append``: positions, versions, hash chain,
expected version, outbox row; plus what only a caller's transaction has: rollback takes the
events back, and a connection outside a transaction is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import asyncpg
import pytest

from shared.envelope import Envelope, new_envelope
from shared.events import DomainEvent
from shared.eventstore import ConcurrencyError, EventIdReused, PostgresEventStore


class Noted(DomainEvent):
    event_name: ClassVar[str] = "Noted"

    n: int


def events(stream_id: str, count: int, start: int = 1) -> list[Envelope]:
    return [new_envelope("contract", stream_id, Noted(occurred_at=datetime(2024, 3, 1, 8, tzinfo=UTC)
                                                      + timedelta(minutes=n), n=n),
                         subject="patient-1", clinic_id="clinic-7") for n in range(start, start + count)]


@pytest.fixture
async def store(pool: asyncpg.Pool) -> PostgresEventStore:
    s = PostgresEventStore(pool, outbox_topic="own.topic")
    await s.migrate()
    return s


async def outbox(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await pool.fetch(
        "SELECT e.stream_id, e.stream_version, o.topic FROM outbox o JOIN events e USING (global_position) "
        "ORDER BY o.id")]


async def test_append_on_commits_with_the_callers_transaction_to_the_topic_asked_for(
        store: PostgresEventStore, pool: asyncpg.Pool) -> None:
    await store.append("s-1", 0, events("s-1", 1))
    async with pool.acquire() as conn, conn.transaction():
        await store.begin_appends(conn)  # the caller writes before it appends
        await conn.execute("CREATE TABLE side (n int)")
        result = await store.append_on(conn, "s-1", 1, events("s-1", 2, start=2), topic="other.topic")
        await conn.execute("INSERT INTO side VALUES (1)")
        assert [e.stream_version for e in result.events] == [2, 3] and result.version == 3
        assert all(e.recorded_at is not None and e.global_position for e in result.events)
    assert (await store.verify("s-1")).ok
    assert [e.payload["n"] for e in await store.read_stream("s-1")] == [1, 2, 3]
    assert await outbox(pool) == [("s-1", 1, "own.topic"), ("s-1", 2, "other.topic"), ("s-1", 3, "other.topic")]
    async with pool.acquire() as conn, conn.transaction():
        await store.append_on(conn, "s-2", None, events("s-2", 1))  # the store's own topic by default
    assert (await outbox(pool))[-1] == ("s-2", 1, "own.topic")


async def test_a_rolled_back_transaction_takes_its_events_back(store: PostgresEventStore, pool: asyncpg.Pool) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with pool.acquire() as conn, conn.transaction():
            await store.append_on(conn, "s-1", 0, events("s-1", 2))
            raise RuntimeError("boom")
    assert await store.read_stream("s-1") == [] and await outbox(pool) == []
    await store.append("s-1", 0, events("s-1", 1))  # version 1 is free again
    assert await store.stream_version("s-1") == 1


async def test_refusals_conflict_reused_id_and_no_transaction(store: PostgresEventStore, pool: asyncpg.Pool) -> None:
    first = events("s-1", 1)
    await store.append("s-1", 0, first)
    with pytest.raises(ConcurrencyError) as conflict:
        async with pool.acquire() as conn, conn.transaction():
            await store.append_on(conn, "s-1", 0, events("s-1", 1, start=2))
    assert (conflict.value.expected, conflict.value.actual) == (0, 1)
    with pytest.raises(EventIdReused):
        async with pool.acquire() as conn, conn.transaction():
            await store.append_on(conn, "s-1", 1, first)
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="transaction"):
            await store.append_on(conn, "s-1", 1, events("s-1", 1, start=2))
    with pytest.raises(ValueError):
        async with pool.acquire() as conn, conn.transaction():
            await store.append_on(conn, "s-1", 1, events("s-2", 1))  # another stream's event
    assert await store.stream_version("s-1") == 1


async def test_append_many_on_appends_each_stream_in_one_round_trip_or_nothing(
        store: PostgresEventStore, pool: asyncpg.Pool) -> None:
    await store.append("s-1", 0, events("s-1", 1))
    async with pool.acquire() as conn, conn.transaction():
        await store.append_many_on(conn, [("s-1", None, events("s-1", 2, start=2)), ("s-2", 0, events("s-2", 1))],
                                   topic="flags.topic")
    assert [(e.stream_id, e.stream_version) for e in await store.read_all()] == [
        ("s-1", 1), ("s-1", 2), ("s-1", 3), ("s-2", 1)]
    assert (await store.verify("s-1")).ok and (await store.verify("s-2")).ok
    assert [t for *_, t in await outbox(pool)] == ["own.topic", "flags.topic", "flags.topic", "flags.topic"]
    with pytest.raises(ConcurrencyError):
        async with pool.acquire() as conn, conn.transaction():
            await store.append_many_on(conn, [("s-3", 0, events("s-3", 1)), ("s-1", 0, events("s-1", 1, start=4))])
    assert await store.stream_version("s-3") == 0, "a refused stream takes the others back"


async def test_a_transaction_that_wrote_before_taking_the_append_lock_is_refused(
        store: PostgresEventStore, pool: asyncpg.Pool) -> None:
    """Readers of the whole store find the transactions that may still write to it by the
    append lock, taken before the transaction has an id; one that wrote first could add rows
    behind a reader's cursor, so it is refused and nothing is appended."""
    await pool.execute("CREATE TABLE side (n int)")
    with pytest.raises(RuntimeError, match="begin_appends"):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO side VALUES (1)")
            await store.append_on(conn, "s-1", None, events("s-1", 1))
    with pytest.raises(RuntimeError, match="begin_appends"):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO side VALUES (1)")
            await store.begin_appends(conn)
    async with pool.acquire() as conn, conn.transaction():
        await store.begin_appends(conn)
        await conn.execute("INSERT INTO side VALUES (2)")
        await store.append_on(conn, "s-1", None, events("s-1", 1))
        await store.append_on(conn, "s-2", None, events("s-2", 1))  # the lock is taken once
    assert await pool.fetchval("SELECT count(*) FROM events") == 2
    assert await pool.fetchval("SELECT array_agg(n) FROM side") == [2]
