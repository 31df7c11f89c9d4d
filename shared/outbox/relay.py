"""Outbox relay: publishes what the event store queued, in order, at least once.

One relay per service database is active at a time (a session advisory lock elects it), so
two instances cannot interleave batches and reorder a stream's events. A batch is read with
its rows locked, produced with acks=all and an idempotent producer, and marked sent in the
same transaction only after every record was acknowledged: a relay that dies after the ack
and before the mark leaves the rows unsent and they are published again (consumers dedupe
by event id). While Kafka is down the rows simply wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, errors
from opentelemetry import trace

from shared.db import holds_session_state
from shared.envelope import Envelope
from shared.eventstore.postgres import _COLUMNS, row_to_envelope
from shared.kafka import headers as ce
from shared.kafka.clients import make_producer
from shared.retry import Backoff, sleep_or_stop
from shared.telemetry import context_from_traceparent, current_traceparent, inject_kafka_headers
from shared.telemetry.semconv import producer_attributes

log = logging.getLogger(__name__)
tracer = trace.get_tracer("carecoord.outbox")

ELECTION_INTERVAL = 1.0  # seconds between a standby's attempts to take the lead
RELAY_LOCK = 1919249516  # with hashtext(current_schema()): one leader per event store
# A leader whose session sits idle this long (a paused or hung process: a healthy leader
# polls every few milliseconds and never waits longer than its backoff) is ended by the
# server, which frees the lock for a standby. TCP keepalives would not help: the kernel of a
# paused process still answers them.
LEADER_IDLE_TIMEOUT = 10.0

# Refusals of one record that no retry can cure; the record is parked with the reason.
PERMANENT = (
    errors.MessageSizeTooLargeError,
    errors.RecordTooLargeError,
    errors.RecordListTooLargeError,
    errors.InvalidTopicError,
    errors.TopicAuthorizationFailedError,
    errors.PolicyViolationError,
    errors.CorruptRecordException,
)

_FETCH = f"""
SELECT o.id AS outbox_id, o.topic, e.global_position, {", ".join("e." + c.strip() for c in _COLUMNS.split(","))}
FROM outbox o JOIN events e ON e.global_position = o.global_position
WHERE o.sent_at IS NULL AND o.parked_at IS NULL
ORDER BY o.id
LIMIT $1
FOR UPDATE OF o SKIP LOCKED
"""

AfterAck = Callable[[Sequence[Envelope]], Awaitable[None]]


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    failures: int = 0
    parked: int = 0


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        *,
        batch_size: int = 1000,
        idle_seconds: float = 0.05,
        max_backoff: float = 5.0,
        leader_idle_timeout: float = LEADER_IDLE_TIMEOUT,
        producer_factory: Callable[[], AIOKafkaProducer] | None = None,
        after_ack: AfterAck | None = None,
        trace_each_event: bool = False,
    ) -> None:
        self.pool = pool
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.max_backoff = max_backoff
        self.leader_idle_timeout = leader_idle_timeout
        self._producer_factory = producer_factory or (lambda: make_producer(bootstrap_servers))
        self._producer: AIOKafkaProducer | None = None
        self._after_ack = after_ack  # runs between the acks and the mark: tests, fault points
        # A publish span per event makes the relay hop visible in each request's trace; it is
        # worth its cost only where spans are exported.
        self.trace_each_event = trace_each_event
        self.stats = RelayStats()
        self.leading = False  # holds the outbox lead (a gauge on /metrics)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; waits its turn while another instance leads.

        Leadership is a session lock, and every batch runs on that same session. Should the
        session die (a database restart, a failover, a network cut) the lock and the batch's
        row locks die with it; this instance then stands for election again instead of
        publishing beside the instance that has taken over, which would reorder events.
        """
        while not stop.is_set():
            try:
                await self._lead(stop)
            except Exception as exc:  # no database yet, or the leader session broke
                self.stats.failures += 1
                log.warning("relay lost its database session; standing for election again",
                            extra={"error_type": type(exc).__name__})
                await self._close_producer()
                # Longer than a standby's polling interval, so a healthy standby takes over.
                await sleep_or_stop(stop, 2 * ELECTION_INTERVAL)

    async def _lead(self, stop: asyncio.Event) -> None:
        async with self.pool.acquire() as leader:
            # The pool resets the session (settings and advisory locks) when it is released.
            holds_session_state(leader)
            await leader.execute(f"SET idle_session_timeout = {int(self.leader_idle_timeout * 1000)}")
            while not stop.is_set():
                if await leader.fetchval("SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", RELAY_LOCK):
                    break
                await sleep_or_stop(stop, ELECTION_INTERVAL)
            else:
                return
            self.leading = True
            try:
                await self._loop(stop, leader)
                if not stop.is_set():
                    raise ConnectionError("the leader session was lost")
            finally:
                self.leading = False
                await self._close_producer()
                if not leader.is_closed():
                    with contextlib.suppress(Exception):
                        await leader.execute("SELECT pg_advisory_unlock($1, hashtext(current_schema()))", RELAY_LOCK)

    async def _loop(self, stop: asyncio.Event, leader: asyncpg.Connection) -> None:
        backoff = Backoff(0.1, min(self.max_backoff, self.leader_idle_timeout / 2))
        while not stop.is_set():
            if leader.is_closed():
                return  # leadership went with the session
            try:
                sent = await self.publish_batch(leader)
                backoff.reset()
            except Exception as exc:
                # Kafka or the database is away: keep the rows, start afresh after a pause.
                self.stats.failures += 1
                log.warning("relay batch failed; retrying", extra={"error_type": type(exc).__name__})
                await self._close_producer()
                await sleep_or_stop(stop, backoff.next_delay())
                continue
            if sent == 0:
                await sleep_or_stop(stop, self.idle_seconds)

    async def publish_batch(self, conn: asyncpg.Connection | None = None) -> int:
        """Publish one batch; returns how many events were marked sent. ``run`` passes its
        leader session; called alone, the batch takes a pooled connection."""
        if conn is None:
            async with self.pool.acquire() as pooled:
                return await self.publish_batch(pooled)
        async with conn.transaction():
            rows = await conn.fetch(_FETCH, self.batch_size)
            if not rows:
                return 0
            producer = await self._ensure_producer()
            # The payload goes out as the store holds it: parsing and re-serialising every
            # event would cost more than the rest of the batch. Envelopes are made only for
            # what needs one (a span per event, a refused record, the test seam).
            futures = [await self._send(producer, row) for row in rows]
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            parked = await self._park_refused(conn, producer, rows, outcomes)
            if self._after_ack is not None:
                await self._after_ack([row_to_envelope(r, parse_payload=False) for r in rows
                                       if r["outbox_id"] not in parked])
            await conn.execute("UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                               [r["outbox_id"] for r in rows if r["outbox_id"] not in parked])
        self.stats.published += len(rows) - len(parked)
        self.stats.batches += 1
        return len(rows)

    async def _send(self, producer: AIOKafkaProducer, row: asyncpg.Record) -> asyncio.Future[Any]:
        key, headers = ce.encode_attributes(
            id=row["event_id"], source=row["source"], type=row["event_type"], time=row["occurred_at"],
            subject=row["subject"], clinic_id=row["clinic_id"], stream_id=row["stream_id"],
            stream_version=row["stream_version"], recorded_at=row["recorded_at"], hash=bytes(row["hash"]),
            correlation_id=row["correlation_id"], causation_id=row["causation_id"], actor=row["actor"],
            traceparent=row["traceparent"])
        value = row["payload"].encode()
        if self.trace_each_event and row["traceparent"]:
            with _relay_span(row_to_envelope(row, parse_payload=False), row["topic"]) as traceparent:
                inject_kafka_headers(headers, traceparent)
                return await producer.send(row["topic"], value=value, key=key, headers=headers)
        # Untraced export: the record carries the request's own traceparent, so the consumer
        # still joins the request's trace, without a span per event here.
        return await producer.send(row["topic"], value=value, key=key, headers=headers)

    async def _park_refused(self, conn: asyncpg.Connection, producer: AIOKafkaProducer,
                            rows: Sequence[asyncpg.Record], outcomes: Sequence[object]) -> set[int]:
        """Outbox ids the broker refused for good, parked with the reason; raises (and so
        keeps the whole batch unsent) when every failure may pass."""
        failed = [(row, exc) for row, exc in zip(rows, outcomes, strict=True) if isinstance(exc, BaseException)]
        if not failed:
            return set()
        if not any(isinstance(exc, PERMANENT) for _, exc in failed):
            raise failed[0][1]  # all may pass: the batch stays unsent and is tried again
        # Batch-mates of a refused record fail with it (refused together, or out of order
        # behind it): all of them are tried alone, and only a refusal of its own parks one.
        parked: set[int] = set()
        for row, _ in failed:
            # A refused batch leaves the idempotent producer's sequence for that partition
            # broken (the next send would fail out of order): each try gets a new producer.
            await self._close_producer()
            producer = await self._ensure_producer()
            try:
                await (await self._send(producer, row))
            except PERMANENT as exc:
                reason = type(exc).__name__
                await conn.execute("UPDATE outbox SET parked_at = now(), parked_reason = $2 WHERE id = $1",
                                   row["outbox_id"], reason)
                parked.add(row["outbox_id"])
                self.stats.parked += 1
                # The event id, never its content: the reason is the broker's, not the patient's.
                log.error("the broker refused an event for good; parked in the outbox",
                          extra={"event_id": str(row["event_id"]), "error_type": reason})
        await self._close_producer()
        return parked

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._producer_factory()
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()


@contextlib.contextmanager
def _relay_span(env: Envelope, topic: str) -> Iterator[str | None]:
    """A publish span continuing the request's trace, so consumers continue it in turn."""
    with tracer.start_as_current_span(
        f"send {topic}", context=context_from_traceparent(env.traceparent),
        kind=trace.SpanKind.PRODUCER, attributes=producer_attributes(topic, str(env.id)),
    ):
        yield current_traceparent()
