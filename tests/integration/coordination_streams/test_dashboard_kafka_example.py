"""examples/dashboard_kafka.py against the real broker: records as the outbox relay writes
them, on a flags topic of the test's own; the example keeps its clinics' changes, once each."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from examples.dashboard_kafka import TOPIC, FlagChange, describe, follow_flags
from shared.envelope import Envelope
from shared.kafka import headers as ce
from shared.kafka.clients import ensure_topics, make_producer
from tests.support.services import wait_until

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def flag_event(name: str, clinic: str, patient: str, flag_id: str, sequence: int) -> Envelope:
    payload: dict[str, Any] = {"occurred_at": AT.isoformat(), "patient_id": patient, "flag_id": flag_id,
                               "rule_id": "polypharmacy", "rule_version": "1+thresholds.1", "severity": "warning",
                               "raised_at": AT.isoformat()}
    return Envelope(id=uuid.uuid4(), source="/carecoord/coordination", type=f"carecoord.coordination.{name}.v1",
                    subject=patient, time=AT, clinic_id=clinic, stream_id=f"flags-{patient}", payload=payload,
                    stream_version=sequence, recorded_at=AT)


async def test_the_kafka_dashboard_follows_its_clinics_flag_changes_once_each(kafka_bootstrap: str,
                                                                             namespace: str) -> None:
    topic = namespace + TOPIC
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)
    raised = flag_event("RiskFlagRaised", "clinic-a", "p-1", "f-1", 1)
    records = [raised, flag_event("RiskFlagRaised", "clinic-b", "q-1", "f-2", 1), raised,  # a redelivery
               flag_event("RiskFlagResolved", "clinic-a", "p-1", "f-1", 2)]
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"not an event", key=b"p-1")
        for envelope in records:
            key, value, headers = ce.encode(envelope)
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()

    seen: list[FlagChange] = []

    async def follow() -> None:
        async with contextlib.aclosing(follow_flags(kafka_bootstrap, ["clinic-a"], topic=topic,
                                                    from_beginning=True)) as changes:
            async for change in changes:
                seen.append(change)

    task = asyncio.create_task(follow())
    try:
        await wait_until(lambda: len(seen) >= 2, timeout=30)
        await asyncio.sleep(1.0)  # time for anything else to arrive
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [(c.name, c.clinic_id, c.payload["flag_id"]) for c in seen] == [
        ("RiskFlagRaised", "clinic-a", "f-1"), ("RiskFlagResolved", "clinic-a", "f-1")]
    assert seen[0].event_id == str(raised.id) and seen[0].patient_id == "p-1" and seen[0].version == 1
    assert "RiskFlagRaised" in describe(seen[0]) and "flag=f-1" in describe(seen[0])
