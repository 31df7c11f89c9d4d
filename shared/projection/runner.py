"""Projection runner: Kafka → read model, exactly-once in effect.

A batch is decoded, applied to the read model and tracked (one row per event id and
projection) in ONE database transaction; Kafka offsets are committed only after it commits.
A redelivered event finds its tracking row and is skipped, so replaying a topic from offset
0 into a live projection changes nothing. Each stream's order is checked on the way
(:mod:`shared.projection.ordering`).

Poison messages (undecodable records, unknown types, a handler refusing one event) go to
``<topic>.dlq`` with the reason in headers, and the runner moves on. Environmental
failures (:func:`shared.dberrors.is_environmental`: the database away, read-only, out of
space, timing out, a table missing after a deploy), and a batch whose every event fails the
same way, are not the messages' fault: the batch is rolled back and retried after a pause,
and no offset is committed past it. Whatever else goes wrong, ``run`` starts over with a
new consumer, which resumes at the committed offsets; its health says how it is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from shared.dberrors import is_environmental
from shared.envelope import EventRegistry
from shared.kafka.clients import ensure_topics, make_consumer, make_producer
from shared.migrations import upgrade_pool
from shared.projection import ordering
from shared.projection.applying import Projection, apply_in_order, apply_traced, retryable
from shared.projection.deadletter import dead_letter_headers
from shared.projection.health import DEFAULT_STUCK_AFTER, ConsumerHealth, ConsumerReport, Phase, consumer_lag
from shared.projection.items import Item, decode
from shared.retry import Backoff, Stopped, retrying, sleep_or_stop

log = logging.getLogger(__name__)



@dataclass
class RunnerStats:
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0
    held_back: int = 0  # parked behind a gap (cumulative; the current count is in health)
    restarts: int = 0


@dataclass
class ProjectionRunner:
    pool: asyncpg.Pool
    bootstrap_servers: str
    group_id: str
    topics: list[str]
    projection: Projection
    registry: EventRegistry | None = None  # when set, unknown types are poison; payloads upcast
    max_records: int = 1000
    trace_links: bool = False  # link batch spans to every event's trace (costs per event)
    partitions: int = 6  # for source topics this runner has to create
    replication: int = 1  # and their replication (see ServiceSettings.topic_replication_factor)
    min_insync: int = 1
    max_backoff: float = 5.0
    consumer_factory: Callable[[], AIOKafkaConsumer] | None = None
    on_batch: Callable[[int], Awaitable[None]] | None = None
    stuck_after: float = DEFAULT_STUCK_AFTER  # failing this long makes the service not ready
    stats: RunnerStats = field(default_factory=RunnerStats)
    health: ConsumerHealth = field(default_factory=ConsumerHealth)
    _consumer: AIOKafkaConsumer | None = None
    _dlq: AIOKafkaProducer | None = None
    _done: dict[TopicPartition, int] = field(default_factory=dict)  # next offset, as committed
    _legacy: bool | None = None

    @property
    def order(self) -> ordering.StreamPositions:
        return ordering.StreamPositions(self.projection.name)

    async def migrate(self) -> None:
        """The kernel's tables in this pool's schema (services migrate when they start)."""
        await upgrade_pool(self.pool)

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; never returns on an error: it backs off and starts over."""
        self.health.started()
        policy = Backoff(initial=0.5, maximum=self.max_backoff)
        try:
            while not stop.is_set():
                try:
                    await self._consume(stop)
                except Stopped:
                    return
                except Exception as exc:
                    # A new consumer resumes at the committed offsets: nothing this one had
                    # fetched but not committed is skipped.
                    self.stats.restarts += 1
                    self._failed(exc, "batch" if self.health.batch_started is not None else "start")
                    self.health.batch_started = None
                    log.warning("projection runner failed; starting over", extra={
                        "projection": self.projection.name, "error_type": type(exc).__name__})
                    if await sleep_or_stop(stop, policy.next_delay()):
                        return
        finally:
            self.health.stopped()

    async def _consume(self, stop: asyncio.Event) -> None:
        consumer = await retrying(self._start_clients, retry_on=lambda _: True, stop=stop,
                                  backoff=Backoff(initial=0.5, maximum=self.max_backoff),
                                  what="projection start", on_retry=lambda e: self._failed(e, "start"))
        self._consumer = consumer
        try:
            with contextlib.suppress(Exception):  # only a report; the database may be away
                self.health.held_back = await self.order.held_back(self.pool)
            while not stop.is_set():
                fetched = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
                # Partitions revoked by a rebalance since the fetch belong to their new owner.
                batches = {tp: recs for tp, recs in fetched.items() if recs and tp in consumer.assignment()}
                if batches:
                    await self._process(batches, stop)
                elif self.health.failing_since is not None and await self._caught_up(consumer):
                    self.health.caught_up()
        finally:
            self._consumer = None
            self._done.clear()
            with contextlib.suppress(Exception):
                await consumer.stop()
            if self._dlq is not None:
                with contextlib.suppress(Exception):
                    await self._dlq.stop()

    async def _start_clients(self) -> AIOKafkaConsumer:
        """Topics, consumer and dead-letter producer; the broker may still be starting."""
        for topics in (self.topics, [f"{t}.dlq" for t in self.topics]):
            await ensure_topics(self.bootstrap_servers, topics, self.partitions, self.replication,
                                min_insync=self.min_insync)
        consumer = (self.consumer_factory or self._default_consumer)()
        dlq = make_producer(self.bootstrap_servers)
        try:
            await consumer.start()
            await dlq.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await dlq.stop()
            raise
        self._dlq = dlq
        return consumer

    async def _caught_up(self, consumer: AIOKafkaConsumer) -> bool:
        """Every assigned partition read to its end: whatever failed before is behind us.
        (A poll returning nothing proves little alone: the fetch may not be back yet.)"""
        assigned = consumer.assignment()
        if not assigned:
            return False
        for tp in assigned:
            end = consumer.highwater(tp)
            if end is None or await consumer.position(tp) < end:
                return False
        return True

    def _default_consumer(self) -> AIOKafkaConsumer:
        return make_consumer(self.bootstrap_servers, self.group_id, *self.topics)

    def _failed(self, exc: BaseException, phase: Phase) -> None:
        self.stats.retries += 1
        self.health.failed(exc, phase)

    # ------------------------------------------------------------------ one batch

    async def _process(self, batches: dict[TopicPartition, list[ConsumerRecord]], stop: asyncio.Event) -> None:
        """One database transaction and one offset commit for everything one fetch brought,
        across partitions; each partition's records keep their order."""
        records = [r for recs in batches.values() for r in recs]
        items = [decode(r, self.registry) for r in records]
        self.health.batch_begins()
        dead = await retrying(lambda: self._apply_batch(items), retry_on=retryable, stop=stop,
                              backoff=Backoff(initial=0.1, maximum=self.max_backoff),
                              what="projection batch", on_retry=lambda e: self._failed(e, "batch"))
        for item in dead:
            await retrying(functools.partial(self._dead_letter, item),
                           retry_on=lambda e: isinstance(e, KafkaError) or is_environmental(e),
                           stop=stop, backoff=Backoff(initial=0.1, maximum=self.max_backoff),
                           what="dead-lettering", on_retry=lambda e: self._failed(e, "dead_letter"))
        assert self._consumer is not None
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batches.items()}
        try:
            await self._consumer.commit(offsets)
            self._done.update(offsets)
        except KafkaError as exc:
            # The group rebalanced while the batch was applied: the partition has a new
            # owner, which re-reads from the last committed offset and finds every event of
            # this batch tracked already. Losing the commit loses nothing.
            log.warning("offset commit failed; the new owner will skip what was applied",
                        extra={"error_type": type(exc).__name__, "count": len(records)})
        self.stats.batches += 1
        self.health.batch_done()
        if self.on_batch is not None:
            await self.on_batch(len(records))

    def _decode(self, record: ConsumerRecord) -> Item:
        return decode(record, self.registry)

    async def _apply_batch(self, items: list[Item]) -> list[Item]:
        """Apply what is fresh and in order; the items to dead-letter come back."""
        for item in items:  # a retry starts from what decoding said, not the last attempt
            item.held = False
            if item.envelope is not None:
                item.error = None
        dead = [i for i in items if i.error is not None]
        good = [i for i in items if i.envelope is not None]
        if not good:
            return dead
        async with self.pool.acquire() as conn, conn.transaction():
            # A projection that appends events in this transaction takes its store's append
            # lock before the tracking rows are written (see PostgresEventStore.begin_appends).
            begin = getattr(self.projection, "begin", None)
            if begin is not None:
                await begin(conn)
            fresh = await self._track(conn, good)
            if self._legacy is None:
                self._legacy = await self.order.is_legacy(conn)
            positions = await self.order.positions(conn, fresh)
            parked = await self.order.parked(conn, fresh, self._decode)
            unreadable = [p for p in parked if p.error is not None]
            waiting: dict[tuple[str, str], dict[int, Item]] = {}
            for p in parked:
                if p.stream is not None:
                    waiting.setdefault(p.stream, {})[p.sequence] = p
            plan = ordering.plan(fresh, positions, waiting, legacy=self._legacy)
            failed = await apply_in_order(conn, plan.apply, self._apply)
            applied = [i for i in plan.apply if i.error is None and not i.held]
            newly_parked = plan.park + [i for i in plan.apply if i.held and i.parked is None]
            await self.order.park(conn, newly_parked)
            await self.order.unpark(conn, [i for i in plan.apply if i.parked and not i.held] + unreadable)
            await self.order.advance(conn, applied)
            poison = failed + unreadable
            if poison:  # not applied: a replay from the dead-letter topic must find it fresh
                await conn.execute(
                    "DELETE FROM projection_tracking WHERE projection = $1 AND event_id = ANY($2::uuid[])",
                    self.projection.name, [_event_id(i) for i in poison])
            if parked or newly_parked:
                held_back = await self.order.held_back(conn)
        if parked or newly_parked:
            self.health.held_back = held_back
        self._report_order(plan, newly_parked)
        self.stats.applied += len(applied)
        self.stats.skipped += len(good) - len(fresh) + len(plan.stale)
        return dead + poison

    def _report_order(self, plan: ordering.Plan, newly_parked: list[Item]) -> None:
        # Positions and sequences only: a stream id may be a patient id.
        for item in newly_parked:
            log.warning("event held back: an earlier event of its stream has not arrived", extra={
                "projection": self.projection.name, "topic": item.record.topic,
                "partition": item.record.partition, "offset": item.record.offset,
                "sequence": item.sequence})
        self.stats.held_back += len(newly_parked)
        if plan.stale:
            log.warning("events skipped: their stream is past their sequence", extra={
                "projection": self.projection.name, "count": len(plan.stale)})

    async def _track(self, conn: asyncpg.Connection, items: list[Item]) -> list[Item]:
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

    async def _apply(self, conn: asyncpg.Connection, items: list[Item]) -> None:
        await apply_traced(self.projection, conn, items, self.trace_links, self.group_id)

    async def _dead_letter(self, item: Item) -> None:
        record, exc = item.record, item.error
        assert self._dlq is not None and exc is not None
        headers = dead_letter_headers(record, exc, self.group_id)
        await self._dlq.send_and_wait(f"{record.topic}.dlq", value=record.value, key=record.key,
                                      headers=headers)
        self.stats.dead_lettered += 1
        log.error("message dead-lettered", extra={
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "error_type": type(exc).__name__})

    # ------------------------------------------------------------------ health

    async def report(self) -> ConsumerReport:
        """Status and lag (end offset minus the next offset to process, per partition)."""
        lag: dict[str, int] | None = None
        with contextlib.suppress(Exception):  # lag unknown is still a report
            lag = await asyncio.wait_for(consumer_lag(self._consumer, self._done), 3)
        return ConsumerReport(
            projection=self.projection.name, group=self.group_id,
            status=self.health.status(self.stuck_after),
            lag=sum(lag.values()) if lag is not None else None, lag_by_partition=lag or {},
            last_batch_at=self.health.last_batch_at, last_error_type=self.health.last_error_type,
            held_back=self.health.held_back, applied=self.stats.applied, dead_lettered=self.stats.dead_lettered)


def _event_id(item: Item) -> uuid.UUID | None:
    if item.envelope is not None:
        return item.envelope.id
    return item.parked.event_id if item.parked is not None else None
