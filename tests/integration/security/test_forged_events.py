"""Forged events: only a topic's owner writes to it, and nothing on the assessment topic moves a
patient into another clinic.

Before, the patient directory applied any ``PatientTransferred`` on the assessment topic (an
event no service produces), so anyone able to write to Kafka could move a patient into their own
clinic, and it took an event on a service's topic at its word whatever its ``ce_source``."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))
from kernel_support import envelopes, new_group, running, wait_for

from shared.directory import DirectoryProjection
from shared.envelope import Envelope, event_type
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_producer
from shared.migrations import upgrade_pool
from shared.projection import ProjectionRunner


def _assessment(patient: str, name: str, *, source: str = "/carecoord/assessment", clinic: str = "clinic-a",
                payload: dict[str, object] | None = None) -> Envelope:
    base = envelopes(patient, 1)[0]
    return replace(base, source=source, stream_version=1, clinic_id=clinic,
                   type=event_type("assessment", name, 1), payload=payload or dict(base.payload))


async def test_nothing_on_the_topic_moves_a_patient_and_foreign_sources_are_dead_lettered(
        pool: asyncpg.Pool, kafka_bootstrap: str, namespace: str) -> None:
    topic = f"{namespace}carecoord.assessment.events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    await upgrade_pool(pool)
    events = [
        _assessment("patient-1", "PatientEnrolled"),
        # a transfer nobody commanded, well-formed and claiming to be assessment's
        replace(_assessment("patient-1", "PatientTransferred", payload={"to_clinic_id": "clinic-b"}),
                stream_version=2),
        # an enrolment into clinic-b written by someone who is not the assessment service
        _assessment("patient-2", "PatientEnrolled", source="/carecoord/pharmacy", clinic="clinic-b"),
    ]
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        for env in events:
            key, value, headers = ce.encode(replace(env, recorded_at=datetime.now(UTC)))
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()

    runner = ProjectionRunner(pool=pool, bootstrap_servers=kafka_bootstrap, group_id=new_group(), topics=[topic],
                              projection=DirectoryProjection(), max_backoff=0.5)
    await runner.migrate()
    async with running(runner.run):
        async def all_seen() -> bool:
            return runner.stats.applied + runner.stats.dead_lettered >= 3
        await wait_for(all_seen, 20, "three events through the directory")

    rows = dict(await pool.fetch("SELECT patient_id, clinic_id FROM patient_directory"))
    assert rows == {"patient-1": "clinic-a"}
    assert runner.stats.dead_lettered == 1
