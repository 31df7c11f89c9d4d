"""PostgreSQL event store with a transactional outbox.

Gap safety: PostgreSQL hands out identity values in call order but makes rows visible in
commit order, so a reader tailing ``position > last`` can skip an event that a slower
transaction commits later. Appends to different streams nevertheless commit side by side
(and share fsyncs): an append locks only its own stream, plus the store's append lock in
share mode (see kernel_0005). Readers of the whole store follow commit order instead: every
row carries the id of the transaction that wrote it, and :meth:`PostgresEventStore.read_all`
returns rows in ``(transaction id, position)`` order, only those of transactions below the
oldest writer of this store still running, so nothing can later appear before a reader's
cursor (a writer takes the append lock before it has a transaction id, see kernel_0005).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.envelope import Envelope, canonical_meta_parts, canonical_payload
from shared.eventstore.base import (
    AppendResult,
    ConcurrencyError,
    EventIdReused,
    SideWrite,
    VerifyResult,
    check_batch,
    replayed_append,
    verify_chain,
)
from shared.migrations import upgrade_pool

# The append and stream locks (taken inside append_events, see kernel_0005) are keyed by
# schema: advisory locks are per database, and services or tests that share a database but
# not a schema must not wait for each other.

_COLUMNS = ("event_id, stream_id, stream_version, event_type, source, subject, clinic_id, "
            "occurred_at, recorded_at, correlation_id, causation_id, actor, traceparent, "
            "payload, hash")


# Transaction-scoped advisory lock of a store (second key: the schema): every append holds it
# in share mode, so appends run side by side; taken exclusively it waits for the appends in
# flight and holds new ones back (a chain checkpoint's consistent view).
APPEND_LOCK = 1667330661


def row_to_envelope(row: asyncpg.Record, parse_payload: bool = True) -> Envelope:
    """An envelope from an events row; ``parse_payload=False`` leaves the payload empty for
    callers that pass the stored JSON on as it is."""
    return Envelope(
        id=row["event_id"],
        source=row["source"],
        type=row["event_type"],
        subject=row["subject"],
        time=row["occurred_at"],
        clinic_id=row["clinic_id"],
        stream_id=row["stream_id"],
        payload=json.loads(row["payload"]) if parse_payload else {},
        stream_version=row["stream_version"],
        recorded_at=row["recorded_at"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        actor=row["actor"],
        traceparent=row["traceparent"],
        global_position=row["global_position"],
        hash=bytes(row["hash"]),
    )


def _arguments(events: Sequence[Envelope]) -> list[list[Any]]:
    """append_events' typed arrays, one per column, in the function's order."""
    parts = [canonical_meta_parts(e) for e in events]
    return [
        [e.id for e in events], [e.type for e in events], [e.source for e in events],
        [e.subject for e in events], [e.clinic_id for e in events], [e.time for e in events],
        [e.correlation_id for e in events], [e.causation_id for e in events], [e.actor for e in events],
        [e.traceparent for e in events], [canonical_payload(e.payload) for e in events],
        [head for head, _ in parts], [tail for _, tail in parts],
    ]


_APPEND = ("SELECT * FROM append_events($1, $2, $3, $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], "
           "$9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], "
           "$16::text[], $17)")


# The cursor is the (transaction, position) of the event at $1. The horizon: the oldest
# transaction of this statement's snapshot that may still add rows to this store; none:
# everything the snapshot sees. Writers take the store's append lock before they have a
# transaction id and hold it to the end (kernel_0005), so a transaction of the snapshot that
# is still running and does not hold the lock never wrote here and never will: only those are
# passed over. One copy of pg_locks (a consistent picture of the lock table, taken after the
# snapshot) says both: a running transaction holds the lock on its own id, and whether its
# backend holds this store's append lock. A transaction of the snapshot that has ended since
# counts (it may have been a writer whose rows this snapshot does not see). pg_locks gives
# 32-bit transaction ids, the snapshot 64-bit ones (the epoch above).
_HORIZON = """
snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
locks AS MATERIALIZED (
    SELECT locktype, pid, transactionid::text AS xid, classid, objid, objsubid, database FROM pg_locks WHERE granted
),
passed_over AS MATERIALIZED (
    SELECT t.xid FROM locks t
    WHERE t.locktype = 'transactionid' AND t.pid IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM locks l
                      WHERE l.pid = t.pid AND l.locktype = 'advisory' AND l.objsubid = 2
                        AND l.classid = {lock}::oid
                        AND l.objid = (hashtext(current_schema())::bigint & 4294967295)::oid
                        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
),
horizon AS MATERIALIZED (
    SELECT coalesce(min(x), pg_snapshot_xmax((SELECT s FROM snap))) AS h
    FROM pg_snapshot_xip((SELECT s FROM snap)) AS x
    WHERE (x::text::bigint % 4294967296)::text NOT IN (SELECT xid FROM passed_over)
),
cursor AS (
    SELECT coalesce((SELECT e.transaction_id FROM events e WHERE e.global_position = $1), '0'::xid8) AS tx
)"""
_READ_ALL = f"""
WITH {_HORIZON.format(lock="$3")}
SELECT global_position, {_COLUMNS} FROM events, cursor
WHERE (transaction_id, global_position) > (cursor.tx, $1)
  AND transaction_id < (SELECT h FROM horizon)
ORDER BY transaction_id, global_position
LIMIT $2
"""
# Committed events after the cursor that _READ_ALL holds back behind a running writer.
_HELD_BACK = f"""
WITH {_HORIZON.format(lock="$2")}
SELECT EXISTS (SELECT 1 FROM events, cursor WHERE (transaction_id, global_position) > (cursor.tx, $1)
                                            AND transaction_id >= (SELECT h FROM horizon))
"""
READ_ALL_SETTLE = 1.0  # seconds; see read_all
_WROTE_FIRST = ("the transaction wrote before it took the event store's append lock: "
                "call begin_appends at its start")


def _result(events: Sequence[Envelope], rows: Sequence[asyncpg.Record]) -> AppendResult:
    return AppendResult(tuple(e.stored(r["stream_version"], r["recorded_at"], bytes(r["hash"]), r["global_position"])
                              for e, r in zip(events, rows, strict=True)))


class PostgresEventStore:
    """One service's event store. ``outbox_topic`` set: every append also queues its events
    for the relay, in the same transaction."""

    def __init__(self, pool: asyncpg.Pool, outbox_topic: str | None = None) -> None:
        self.pool = pool
        self.outbox_topic = outbox_topic

    async def migrate(self) -> None:
        """The kernel's tables in this pool's schema (services migrate when they start)."""
        await upgrade_pool(self.pool)

    async def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[Envelope],
        *,
        within: SideWrite | None = None,
    ) -> AppendResult:
        """Append atomically, in one round trip. ``within`` runs in the same transaction after
        the insert (an idempotency record, say), so it commits or rolls back with the events.

        Versions, recorded_at and hashes are assigned by the database under the stream's lock
        (see kernel_0005); everything else is prepared here, before the lock is taken."""
        check_batch(stream_id, events)
        arguments = _arguments(events)
        try:
            if within is None:
                # One statement is its own transaction: the locks, the events and the outbox
                # rows commit with it, in one round trip instead of BEGIN, call, COMMIT.
                rows = await self.pool.fetch(_APPEND, APPEND_LOCK, stream_id, expected_version, *arguments,
                                             self.outbox_topic)
                return _result(events, rows)
            async with self.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(_APPEND, APPEND_LOCK, stream_id, expected_version, *arguments,
                                        self.outbox_topic)
                result = _result(events, rows)
                await within(conn, result)
                return result
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == "CC001":
                raise ConcurrencyError(stream_id, expected_version, int(exc.args[0])) from None
            if exc.sqlstate == "CC003" or (isinstance(exc, asyncpg.UniqueViolationError)
                                           and exc.constraint_name == "events_event_id_key"):
                stored = await self._stored(events)
                return replayed_append(stream_id, expected_version, events, stored)
            if isinstance(exc, asyncpg.UniqueViolationError) and \
                    exc.constraint_name == "events_stream_id_stream_version_key":
                # The lock makes this unreachable; should a writer ever bypass it, the
                # unique key still turns a lost race into the conflict callers handle.
                raise ConcurrencyError(stream_id, expected_version,
                                       await self.stream_version(stream_id)) from None
            raise

    async def begin_appends(self, conn: asyncpg.Connection) -> None:
        """Take the store's append lock (share mode) in the caller's transaction before it
        writes anything else: a caller that writes read-model rows and then appends with
        :meth:`append_on` calls this first. Readers of the whole store find the transactions
        that may still write to it by this lock (see kernel_0005), so a transaction that has
        written before taking it is refused (``RuntimeError``)."""
        if not conn.is_in_transaction():
            raise RuntimeError("begin_appends needs the caller's open transaction")
        try:
            await conn.execute("SELECT take_append_lock($1)", APPEND_LOCK)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == "CC004":
                raise RuntimeError(_WROTE_FIRST) from None
            raise

    async def append_on(
        self,
        conn: asyncpg.Connection,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[Envelope],
        *,
        topic: str | None = None,
    ) -> AppendResult:
        """Append on the caller's connection, inside the caller's transaction, so events and
        outbox rows commit with whatever else the caller writes (a read model's rows, say).

        Same SQL function and lock as :meth:`append`; the outbox row goes to ``topic`` (the
        store's own topic when None). The stream's lock is held until the caller commits, so
        callers append last. A refused append leaves the caller's transaction aborted: there
        is no retry to answer here, so a reused event id is an error, not a replay."""
        check_batch(stream_id, events)
        if not conn.is_in_transaction():
            raise RuntimeError("append_on needs the caller's open transaction")
        try:
            rows = await conn.fetch(_APPEND, APPEND_LOCK, stream_id, expected_version, *_arguments(events),
                                    topic if topic is not None else self.outbox_topic)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == "CC001":
                raise ConcurrencyError(stream_id, expected_version, int(exc.args[0])) from None
            if exc.sqlstate == "CC003":
                raise EventIdReused(str(events[0].id), "(an append in the caller's transaction)") from None
            if exc.sqlstate == "CC004":
                raise RuntimeError(_WROTE_FIRST) from None
            raise
        return _result(events, rows)

    async def append_many_on(
        self,
        conn: asyncpg.Connection,
        appends: Sequence[tuple[str, int | None, Sequence[Envelope]]],
        *,
        topic: str | None = None,
    ) -> None:
        """:meth:`append_on` for several streams at once, pipelined in one round trip (a
        projection announcing changes of many patients' streams in one batch). Each
        (stream, expected version, events) is appended as :meth:`append_on` would; the stored
        versions are not returned. The first refusal raises as there and aborts the caller's
        transaction, the other streams' appends with it. Streams are locked in id order, so
        two such transactions over overlapping streams cannot deadlock on each other."""
        if not appends:
            return
        for stream_id, _, events in appends:
            check_batch(stream_id, events)
        if not conn.is_in_transaction():
            raise RuntimeError("append_many_on needs the caller's open transaction")
        box = topic if topic is not None else self.outbox_topic
        try:
            await conn.executemany(_APPEND, [(APPEND_LOCK, stream_id, expected, *_arguments(events), box)
                                             for stream_id, expected, events in
                                             sorted(appends, key=lambda a: a[0])])
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == "CC001":
                raise ConcurrencyError("(one of several streams)", None, int(exc.args[0])) from None
            if exc.sqlstate == "CC003":
                raise EventIdReused("(one of several streams)", "(an append in the caller's transaction)") from None
            if exc.sqlstate == "CC004":
                raise RuntimeError(_WROTE_FIRST) from None
            raise

    async def _stored(self, events: Sequence[Envelope]) -> dict[str, Envelope]:
        rows = await self.pool.fetch(f"SELECT global_position, {_COLUMNS} FROM events "
                                     "WHERE event_id = ANY($1::uuid[])", [e.id for e in events])
        return {str(r["event_id"]): row_to_envelope(r) for r in rows}

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        rows = await self.pool.fetch(
            f"SELECT global_position, {_COLUMNS} FROM events WHERE stream_id = $1 "
            "AND stream_version >= $2 ORDER BY stream_version", stream_id, from_version)
        return [row_to_envelope(r) for r in rows]

    async def read_all(self, after_position: int = 0, limit: int = 1000,
                       settle: float = READ_ALL_SETTLE) -> list[Envelope]:
        """Events in commit order after the event at ``after_position`` (a position this method
        returned; 0 for the start), at most ``limit``. Commit order is by transaction, so
        positions need not ascend along a page; a reader keeps the last event's position as
        its cursor. Events of transactions newer than a writer of this store still running
        wait until it ends, so a tailing reader never skips an event committed late;
        transactions elsewhere (other stores, schemas, databases) hold nothing back. Such a
        wait lasts one append's commit; a short page held back by one is read again for up
        to ``settle`` seconds, so a caller reading "everything so far" gets it unless a
        writer of this store keeps its transaction open longer than that."""
        deadline = time.monotonic() + settle
        while True:
            rows = await self.pool.fetch(_READ_ALL, after_position, limit, APPEND_LOCK)
            if len(rows) >= limit or time.monotonic() >= deadline:
                break
            last = rows[-1]["global_position"] if rows else after_position
            if not await self.pool.fetchval(_HELD_BACK, last, APPEND_LOCK):
                break
            await asyncio.sleep(0.005)
        return [row_to_envelope(r) for r in rows]

    async def read_subject(self, subject: str, as_of: datetime | None = None) -> list[Envelope]:
        """All events about one patient, optionally only those recorded by ``as_of``."""
        rows = await self.pool.fetch(
            f"SELECT global_position, {_COLUMNS} FROM events WHERE subject = $1 "
            "AND ($2::timestamptz IS NULL OR recorded_at <= $2) ORDER BY global_position",
            subject, as_of)
        return [row_to_envelope(r) for r in rows]

    async def stream_version(self, stream_id: str) -> int:
        v = await self.pool.fetchval(
            "SELECT max(stream_version) FROM events WHERE stream_id = $1", stream_id)
        return int(v or 0)

    async def verify(self, stream_id: str) -> VerifyResult:
        return verify_chain(stream_id, await self.read_stream(stream_id))
