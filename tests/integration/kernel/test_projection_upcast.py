"""Projections read the current payload version: an old event on the topic reaches them
upcast, with the current type; the patient directory knows a patient enrolled by any
version of the enrolment event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import asyncpg
from kernel_support import SERVICE, envelopes, new_group, running, topic_name, wait_for

from shared.directory import DirectoryProjection
from shared.envelope import Envelope, EventRegistry, event_type
from shared.events import DomainEvent
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_producer
from shared.migrations import upgrade_pool
from shared.projection import ProjectionRunner


class SampleRecordedV2(DomainEvent):
    """v2 renamed ``n`` to ``count`` and added ``unit``."""

    event_name: ClassVar[str] = "SampleRecorded"
    version: ClassVar[int] = 2

    count: int
    unit: str
    poison: bool = False


class Seen:
    name = "seen"

    def __init__(self) -> None:
        self.events: list[Envelope] = []

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        self.events.extend(events)


async def _publish(bootstrap: str, topic: str, *envs: Envelope) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for env in envs:
            key, value, headers = ce.encode(replace(env, recorded_at=datetime.now(UTC)))
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_a_v1_event_reaches_the_projection_as_v2(pool: asyncpg.Pool, kafka_bootstrap: str,
                                                        namespace: str) -> None:
    topic = topic_name(namespace)
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    reg = EventRegistry()
    reg.register(SERVICE, SampleRecordedV2)

    @reg.upcaster(SERVICE, "SampleRecorded", 1)
    def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in data.items() if k != "n"}
        return {**rest, "count": data["n"], "unit": "mg"}

    old = replace(envelopes("stream-1", 1, start=7)[0], stream_version=1)
    assert old.type == event_type(SERVICE, "SampleRecorded", 1) and old.payload["n"] == 7
    await _publish(kafka_bootstrap, topic, old)

    seen = Seen()
    runner = ProjectionRunner(pool=pool, bootstrap_servers=kafka_bootstrap, group_id=new_group(), topics=[topic],
                              projection=seen, registry=reg, max_backoff=0.5)
    await runner.migrate()
    async with running(runner.run):
        async def arrived() -> bool:
            return len(seen.events) == 1
        await wait_for(arrived, 20, "the old event to reach the projection")

    (env,) = seen.events
    assert env.type == event_type(SERVICE, "SampleRecorded", 2)
    assert env.event_name == "SampleRecorded" and env.schema_version == 2
    assert env.payload["count"] == 7 and env.payload["unit"] == "mg" and "n" not in env.payload
    assert env.id == old.id and env.stream_version == 1


async def test_the_directory_knows_a_patient_enrolled_by_a_later_event_version(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    topic = f"{namespace}carecoord.assessment.events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    await upgrade_pool(pool)
    enrolled = []
    for version, patient in ((1, "patient-v1"), (2, "patient-v2")):
        base = envelopes(patient, 1)[0]
        enrolled.append(replace(base, source="/carecoord/assessment", stream_version=1, clinic_id="clinic-a",
                                type=event_type("assessment", "PatientEnrolled", version)))
    # Another service's event of the same name is not an enrolment (and on assessment's topic
    # it is forged: dead-lettered).
    stranger = replace(envelopes("patient-x", 1)[0], stream_version=1,
                       type=event_type("pharmacy", "PatientEnrolled", 1))
    await _publish(kafka_bootstrap, topic, *enrolled, stranger)

    runner = ProjectionRunner(pool=pool, bootstrap_servers=kafka_bootstrap, group_id=new_group(), topics=[topic],
                              projection=DirectoryProjection(), max_backoff=0.5)
    await runner.migrate()
    async with running(runner.run):
        async def all_seen() -> bool:
            return runner.stats.applied + runner.stats.dead_lettered >= 3
        await wait_for(all_seen, 20, "three events through the directory")

    rows = dict(await pool.fetch("SELECT patient_id, clinic_id FROM patient_directory"))
    assert rows == {"patient-v1": "clinic-a", "patient-v2": "clinic-a"}
    assert runner.stats.dead_lettered == 1
