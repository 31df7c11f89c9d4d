"""Shared pieces of the kernel's integration tests: a sample event, envelope builders, and
small waits on the real broker and database. Not a test module (no ``test_`` prefix)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.envelope import Envelope, EventRegistry, Metadata, new_envelope
from shared.events import DomainEvent
from shared.kafka.security import client_security
from shared.outbox import OutboxRelay
from tests.support import local_stack

ROOT = Path(__file__).resolve().parents[3]
SERVICE = "kerneltest"


class SampleRecorded(DomainEvent):
    event_name: ClassVar[str] = "SampleRecorded"
    version: ClassVar[int] = 1

    n: int
    poison: bool = False


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(SERVICE, SampleRecorded)
    return reg


def envelopes(stream_id: str, count: int, *, subject: str | None = None, start: int = 1,
              metadata: Metadata | None = None, poison_at: int | None = None) -> list[Envelope]:
    """``count`` fresh events for ``stream_id`` numbered ``start``…; subject defaults to the
    stream id (one stream per patient keeps key order = stream order)."""
    return [
        new_envelope(SERVICE, stream_id,
                     SampleRecorded(occurred_at=datetime.now(UTC), n=n, poison=(n == poison_at)),
                     subject=subject or stream_id, clinic_id="clinic-1", metadata=metadata)
        for n in range(start, start + count)
    ]


def topic_name(namespace: str) -> str:
    return f"{namespace}carecoord.{SERVICE}.events.v1"


async def unsent(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL"))


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str,
                   interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(run: Callable[[asyncio.Event], Awaitable[None]]):  # type: ignore[no-untyped-def]
    """Run a ``run(stop)`` component as a task for the block; stop it afterwards and re-raise
    anything it died of."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop))
    try:
        yield task
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 20)
        except TimeoutError:
            task.cancel()
            raise


async def relay_until_sent(pool: asyncpg.Pool, bootstrap: str, timeout: float = 20.0,
                           **relay_options: Any) -> OutboxRelay:
    relay = OutboxRelay(pool, bootstrap, **relay_options)
    async with running(relay.run) as task:
        async def done() -> bool:
            assert not task.done(), "the relay stopped on its own"
            return await unsent(pool) == 0
        await wait_for(done, timeout, "the outbox to drain")
    return relay


async def consume(bootstrap: str, topic: str, at_least: int, timeout: float = 20.0,
                  settle: float = 0.0) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning (no consumer group), once ``at_least``
    have arrived; ``settle`` seconds more are read to catch unexpected extra records."""
    consumer = AIOKafkaConsumer(topic, **client_security(), bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                isolation_level="read_committed")
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(records)} of {at_least} records arrived on "
                                     f"{topic} within {timeout:.0f} s")
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        end = time.monotonic() + settle
        while time.monotonic() < end:
            for batch in (await consumer.getmany(timeout_ms=100)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def header(record: ConsumerRecord, name: str) -> str | None:
    values = [v for k, v in record.headers if k == name]
    assert len(values) <= 1, f"header {name} appears {len(values)} times"
    return values[0].decode() if values else None


def event_id(record: ConsumerRecord) -> str:
    value = header(record, "ce_id")
    assert value is not None
    return value


def first_occurrences(records: Sequence[ConsumerRecord]) -> dict[str, list[int]]:
    """Per key, the ``ce_sequence`` of each event in the order it first arrived."""
    seen: set[str] = set()
    order: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        eid = event_id(r)
        if eid in seen:
            continue
        seen.add(eid)
        order.setdefault(r.key.decode(), []).append(int(header(r, "ce_sequence") or 0))
    return order


def payload(record: ConsumerRecord) -> dict[str, Any]:
    return json.loads(record.value)


def new_group() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


def load_stack() -> ModuleType:
    """deploy/local/stack.py, which starts and stops the real local broker."""
    return local_stack.load_stack()
