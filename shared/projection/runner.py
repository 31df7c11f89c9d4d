"""Projection runner: Kafka → read model, exactly-once in effect.

A batch is decoded, applied to the read model and tracked (one row per event id and
projection) in ONE database transaction; Kafka offsets are committed only after it commits.
A redelivered event finds its tracking row and is skipped, so replaying a topic from offset
0 into a live projection changes nothing.

Poison messages (undecodable records, unknown types, handlers raising a non-transient
error) go to ``<topic>.dlq`` with the reason in headers, and the runner moves on. Transient
errors (database or broker away) roll the batch back and retry it after a pause without
committing offsets, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry import trace

from shared.db import Migration, migrate
from shared.envelope import Envelope, EventRegistry, UnknownEventType
from shared.errors import DomainError
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_consumer, make_producer
from shared.telemetry import context_from_traceparent

log = logging.getLogger(__name__)
tracer = trace.get_tracer("carecoord.projection")

MIGRATIONS = [
    Migration(
        "001_tracking",
        """
        CREATE TABLE projection_tracking (
            projection text NOT NULL,
            event_id uuid NOT NULL,
            topic text NOT NULL,
            partition integer NOT NULL,
            "offset" bigint NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, event_id)
        );
        """,
    )
]

MAX_LINKS = 128

TRANSIENT = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,  # the server (or an admin) ended the session
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


class Projection(Protocol):
    """A read model. ``apply`` runs inside the runner's transaction; it must do all its
    writes through ``conn`` so they commit together with the tracking rows."""

    name: str

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None: ...


@dataclass
class RunnerStats:
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0


@dataclass
class _Item:
    record: ConsumerRecord
    envelope: Envelope | None = None
    error: BaseException | None = None


@dataclass
class ProjectionRunner:
    pool: asyncpg.Pool
    bootstrap_servers: str
    group_id: str
    topics: list[str]
    projection: Projection
    registry: EventRegistry | None = None  # when set, unknown types are poison
    max_records: int = 1000
    trace_links: bool = False  # link batch spans to every event's trace (costs per event)
    partitions: int = 6  # for source topics this runner has to create
    max_backoff: float = 5.0
    consumer_factory: Callable[[], AIOKafkaConsumer] | None = None
    on_batch: Callable[[int], Awaitable[None]] | None = None
    stats: RunnerStats = field(default_factory=RunnerStats)
    _consumer: AIOKafkaConsumer | None = None
    _dlq: AIOKafkaProducer | None = None

    async def migrate(self) -> None:
        await migrate(self.pool, "projection", MIGRATIONS)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while True:  # the broker may still be starting; wait for it rather than fail
            try:
                await ensure_topics(self.bootstrap_servers, self.topics, self.partitions)
                await ensure_topics(self.bootstrap_servers, [f"{t}.dlq" for t in self.topics], self.partitions)
                consumer = (self.consumer_factory or self._default_consumer)()
                self._dlq = make_producer(self.bootstrap_servers)
                await consumer.start()
                await self._dlq.start()
                break
            except Exception as exc:
                log.warning("projection cannot reach Kafka yet", extra={"error_type": type(exc).__name__})
                if stop.is_set():
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        self._consumer = consumer
        try:
            while not stop.is_set():
                fetched = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
                # Partitions revoked by a rebalance since the fetch belong to their new owner.
                batches = {tp: recs for tp, recs in fetched.items() if recs and tp in consumer.assignment()}
                if batches:
                    await self._process(batches, stop)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await self._dlq.stop()

    def _default_consumer(self) -> AIOKafkaConsumer:
        return make_consumer(self.bootstrap_servers, self.group_id, *self.topics)

    async def _process(self, batches: dict[TopicPartition, list[ConsumerRecord]], stop: asyncio.Event) -> None:
        """One database transaction and one offset commit for everything one fetch brought,
        across partitions; each partition's records keep their order."""
        records = [r for recs in batches.values() for r in recs]
        items = [self._decode(r) for r in records]
        backoff = 0.1
        while True:
            try:
                await self._apply_batch(items)
                break
            except TRANSIENT as exc:
                self.stats.retries += 1
                log.warning("projection batch failed transiently; retrying",
                            extra={"error_type": type(exc).__name__, "count": len(records)})
                if stop.is_set():
                    return  # offsets stay uncommitted: the batch is redelivered
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        for item in items:
            if item.error is not None and not await self._dead_letter_retrying(item, stop):
                return  # stopping with a dead letter unsent: the batch is redelivered
        assert self._consumer is not None
        try:
            await self._consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
        except KafkaError as exc:
            # The group rebalanced while the batch was applied: the partition has a new
            # owner, which re-reads from the last committed offset and finds every event of
            # this batch tracked already. Losing the commit loses nothing.
            log.warning("offset commit failed; the new owner will skip what was applied",
                        extra={"error_type": type(exc).__name__, "count": len(records)})
        self.stats.batches += 1
        if self.on_batch is not None:
            await self.on_batch(len(records))

    def _decode(self, record: ConsumerRecord) -> _Item:
        try:
            env = ce.decode(record.value, record.headers)
            if self.registry is not None:
                self.registry.decode(env)  # validates type and payload
            return _Item(record, env)
        except Exception as exc:
            # Whatever fails to decode one record (a malformed envelope, an unknown type, an
            # invalid payload, an upcaster tripping over an odd old payload) is that
            # record's problem: it is poison, not a reason to stop the partition.
            return _Item(record, error=exc)

    async def _apply_batch(self, items: list[_Item]) -> None:
        good = [i for i in items if i.envelope is not None and i.error is None]
        if not good:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await self._track(conn, good)
            try:
                async with conn.transaction():  # savepoint: the fast path, whole batch at once
                    await self._apply(conn, fresh)
            except TRANSIENT:
                raise
            except Exception:
                # Someone in the batch is poison: apply one by one to find and set it aside.
                for item in fresh:
                    try:
                        async with conn.transaction():
                            await self._apply(conn, [item])
                    except TRANSIENT:
                        raise
                    except Exception as exc:
                        item.error = exc
                        await conn.execute(
                            "DELETE FROM projection_tracking WHERE projection = $1 AND event_id = $2",
                            self.projection.name, item.envelope.id if item.envelope else None)
        self.stats.applied += sum(1 for i in fresh if i.error is None)
        self.stats.skipped += len(good) - len(fresh)

    async def _track(self, conn: asyncpg.Connection, items: list[_Item]) -> list[_Item]:
        """Insert tracking rows; the ones that already existed were applied before."""
        rows = await conn.fetch(
            "INSERT INTO projection_tracking (projection, event_id, topic, partition, \"offset\") "
            "SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            self.projection.name,
            [i.envelope.id for i in items if i.envelope],
            [i.record.topic for i in items],
            [i.record.partition for i in items],
            [i.record.offset for i in items],
        )
        new = {r["event_id"] for r in rows}
        seen: set[object] = set()
        fresh = []
        for item in items:
            assert item.envelope is not None
            if item.envelope.id in new and item.envelope.id not in seen:
                seen.add(item.envelope.id)  # a duplicate inside one batch counts once
                fresh.append(item)
        return fresh

    async def _apply(self, conn: asyncpg.Connection, items: list[_Item]) -> None:
        envelopes = [i.envelope for i in items if i.envelope is not None]
        if not envelopes:
            return
        # One event continues its request's trace; a batch links to each event's trace (the
        # OpenTelemetry convention for batch consumers) when spans are exported at all.
        parent = envelopes[0].traceparent if len(envelopes) == 1 else None
        links = []
        if self.trace_links and parent is None:
            for env in envelopes[:MAX_LINKS]:
                context = trace.get_current_span(context_from_traceparent(env.traceparent)).get_span_context()
                if context.is_valid:
                    links.append(trace.Link(context))
        with tracer.start_as_current_span(
            f"project {self.projection.name}", context=context_from_traceparent(parent), links=links,
            kind=trace.SpanKind.CONSUMER, attributes={"messaging.batch.message_count": len(envelopes)},
        ):
            await self.projection.apply(conn, envelopes)

    async def _dead_letter_retrying(self, item: _Item, stop: asyncio.Event) -> bool:
        """Dead-letter ``item``, waiting out a broker hiccup; False if told to stop first."""
        backoff = 0.1
        while True:
            try:
                await self._dead_letter(item)
                return True
            except (KafkaError, *TRANSIENT) as exc:
                self.stats.retries += 1
                log.warning("dead-lettering failed; retrying",
                            extra={"error_type": type(exc).__name__})
                if stop.is_set():
                    return False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def _dead_letter(self, item: _Item) -> None:
        record, exc = item.record, item.error
        assert self._dlq is not None and exc is not None
        headers = list(record.headers or []) + [
            ("dlq_error_type", type(exc).__name__.encode()),
            ("dlq_error", safe_reason(exc).encode()),
            ("dlq_source_topic", record.topic.encode()),
            ("dlq_source_partition", str(record.partition).encode()),
            ("dlq_source_offset", str(record.offset).encode()),
            ("dlq_consumer_group", self.group_id.encode()),
        ]
        await self._dlq.send_and_wait(f"{record.topic}.dlq", value=record.value, key=record.key,
                                      headers=headers)
        self.stats.dead_lettered += 1
        log.error("message dead-lettered", extra={
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "error_type": type(exc).__name__})


def safe_reason(exc: BaseException) -> str:
    """A reason fit for a header: ours are written without patient data; a library's
    message may quote input, so only its type is given."""
    if isinstance(exc, (DomainError, ce.EnvelopeDecodeError, UnknownEventType)):
        return str(exc)[:500]
    if hasattr(exc, "errors") and callable(exc.errors):  # pydantic ValidationError
        try:
            parts = [f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()]
            return ("invalid payload: " + "; ".join(parts))[:500]
        except Exception:
            pass
    return type(exc).__name__
