"""PostgreSQL event store with a transactional outbox.

Gap safety: PostgreSQL hands out identity values in call order but makes rows visible in
commit order, so a reader tailing ``position > last`` can skip an event that a slower
transaction commits later. Appends therefore take one transaction-scoped advisory lock
before they draw positions: positions are drawn and committed in the same order, and a
reader that has seen position P will never see a smaller one appear later. The lock is held
for one call of ``append_batch`` plus the commit; batched appends amortise it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import asyncpg

from shared.db import migrate
from shared.envelope import Envelope, canonical_meta, canonical_payload
from shared.eventstore.base import (
    AppendResult,
    ConcurrencyError,
    VerifyResult,
    check_batch,
    verify_chain,
)
from shared.eventstore.migrations import MIGRATIONS

# The append lock (taken inside append_batch, see migrations.py) is keyed by schema:
# advisory locks are per database, and services or tests that share a database but not a
# schema must not serialise on each other.

_COLUMNS = ("event_id, stream_id, stream_version, event_type, source, subject, clinic_id, "
            "occurred_at, recorded_at, correlation_id, causation_id, actor, traceparent, "
            "payload, hash")


class _AlreadyStored(Exception):
    pass


SideWrite = Callable[[asyncpg.Connection, AppendResult], Awaitable[None]]


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


def _render(events: Sequence[Envelope], payloads: list[str], current: int,
            recorded_at: datetime) -> tuple[str, list[bytes]]:
    """The append_batch argument and each event's canonical content, for the events as they
    will be stored after version ``current``."""
    metas = [canonical_meta(e, stream_version=current + i, recorded_at=recorded_at)
             for i, e in enumerate(events, start=1)]
    contents = [f"{m}\n{p}".encode() for m, p in zip(metas, payloads, strict=True)]
    batch = ",".join(f"[{m[1:-1]},{p},{json.dumps(e.traceparent)}]"
                     for m, p, e in zip(metas, payloads, events, strict=True))
    return f"[{batch}]", contents


_APPEND = "SELECT * FROM append_batch($1, $2, $3, $4, $5, $6)"


class PostgresEventStore:
    """One service's event store. ``outbox_topic`` set: every append also queues its events
    for the relay, in the same transaction."""

    def __init__(self, pool: asyncpg.Pool, outbox_topic: str | None = None) -> None:
        self.pool = pool
        self.outbox_topic = outbox_topic

    async def migrate(self) -> None:
        await migrate(self.pool, "eventstore", MIGRATIONS)

    async def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[Envelope],
        *,
        within: SideWrite | None = None,
    ) -> AppendResult:
        """Append atomically. ``within`` runs in the same transaction after the insert (an
        idempotency record, say), so it commits or rolls back with the events."""
        check_batch(stream_id, events)
        # Everything that does not depend on the stream's head is prepared before the lock
        # is taken: the lock serialises every append of the service, so time inside it is
        # the store's throughput.
        recorded_at = datetime.now(UTC)
        guess = expected_version if expected_version is not None else await self.stream_version(stream_id)
        payloads = [canonical_payload(e.payload) for e in events]
        try:
            for _ in range(5):
                batch, contents = _render(events, payloads, guess, recorded_at)
                try:
                    async with self.pool.acquire() as conn, conn.transaction():
                        rows = await conn.fetch(_APPEND, stream_id, expected_version, guess, batch, contents,
                                                self.outbox_topic)
                        result = AppendResult(tuple(
                            e.stored(guess + i, recorded_at, bytes(r["hash"]), r["global_position"])
                            for i, (e, r) in enumerate(zip(events, rows, strict=True), start=1)))
                        if within is not None:
                            await within(conn, result)
                        return result
                except asyncpg.PostgresError as exc:
                    if exc.sqlstate == "CC002":  # the stream moved since the guess: render again
                        guess = int(exc.args[0])
                        continue
                    if exc.sqlstate != "CC001":
                        raise
                    async with self.pool.acquire() as conn:
                        if await self._existing(conn, events) is not None:
                            raise _AlreadyStored from None
                    raise ConcurrencyError(stream_id, expected_version, int(exc.args[0])) from None
            raise ConcurrencyError(stream_id, expected_version, guess)  # a stream too busy to catch
        except (_AlreadyStored, asyncpg.UniqueViolationError) as exc:
            if (isinstance(exc, asyncpg.UniqueViolationError)
                    and exc.constraint_name == "events_stream_id_stream_version_key"):
                # The lock makes this unreachable; should a writer ever bypass it, the
                # unique key still turns a lost race into the conflict callers handle.
                raise ConcurrencyError(stream_id, expected_version,
                                       await self.stream_version(stream_id)) from None
            # A retried append of stored events is a no-op that returns what was stored.
            if isinstance(exc, asyncpg.UniqueViolationError) and exc.constraint_name != "events_event_id_key":
                raise
            async with self.pool.acquire() as conn:
                existing = await self._existing(conn, events)
            assert existing is not None
            return existing

    async def _existing(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> AppendResult | None:
        rows = await conn.fetch(f"SELECT global_position, {_COLUMNS} FROM events "
                                "WHERE event_id = ANY($1::uuid[]) ORDER BY global_position",
                                [e.id for e in events])
        if not rows:
            return None
        return AppendResult(tuple(row_to_envelope(r) for r in rows), duplicate=True)

    async def read_stream(self, stream_id: str, from_version: int = 1) -> list[Envelope]:
        rows = await self.pool.fetch(
            f"SELECT global_position, {_COLUMNS} FROM events WHERE stream_id = $1 "
            "AND stream_version >= $2 ORDER BY stream_version", stream_id, from_version)
        return [row_to_envelope(r) for r in rows]

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Envelope]:
        rows = await self.pool.fetch(
            f"SELECT global_position, {_COLUMNS} FROM events WHERE global_position > $1 "
            "ORDER BY global_position LIMIT $2", after_position, limit)
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
