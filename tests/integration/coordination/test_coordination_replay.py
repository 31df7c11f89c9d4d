"""Replays and poison: redelivering every topic from offset 0 changes no read model, a
rebuild from scratch gives the same read models, and a poison message on any input topic
goes to that topic's dead-letter topic while the patient's other events still project."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from coordination_support import (
    COORDINATOR,
    Episode,
    Stack,
    checksum,
    clinical_stack,
    enroll,
    input_topics,
    produce,
    produce_raw,
    projecting,
    publish_history,
    until_caught_up,
    wait_for_entries,
)

from shared.db import create_pool
from shared.envelope import Envelope, event_type
from shared.kafka import headers as ce
from tests.bench.coordination import synthetic_history
from tests.support.services import read_topic


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


async def test_redelivery_from_offset_zero_changes_nothing_and_a_rebuild_gives_the_same_read_models(
        stack: Stack, pg_url: str, schema: str) -> None:
    events = synthetic_history(patients=12, seed=3)
    await publish_history(stack.kafka, stack.settings, events)
    pid = await enroll(stack.assessment)  # and some traffic through the real APIs
    await wait_for_entries(stack.pool, {pid: 1})  # known to coordination before its decision
    decided = await stack.coordination.post(f"/v1/patients/{pid}/escalations", headers=COORDINATOR, json={
        "target": "both", "reason": "relapse", "decided_at": "2026-05-01T10:00:00Z"})
    assert decided.status_code == 201, decided.text
    total = len(events) + 2
    await wait_for_entries(stack.pool, {pid: 2})
    assert int(await stack.pool.fetchval("SELECT count(*) FROM timeline_entries")) == total
    before = await checksum(stack.pool)

    topics = input_topics(stack.settings)
    async with projecting(stack.pool, stack.kafka, f"replay-{uuid.uuid4().hex[:8]}", topics) as replay:
        await until_caught_up(replay)
    assert replay.stats.applied == 0 and replay.stats.dead_lettered == 0
    assert await checksum(stack.pool) == before, "redelivery changed a read model"

    rebuilt = await create_pool(pg_url, f"{schema}_rebuild", size=4)
    try:
        async with projecting(rebuilt, stack.kafka, f"rebuild-{uuid.uuid4().hex[:8]}", topics) as rebuild:
            await until_caught_up(rebuild)
        assert rebuild.stats.applied == total
        assert await checksum(rebuilt) == before, "a rebuild from the topics differs from the live read models"
    finally:
        await rebuilt.close()


def poison(service: str, name: str, patient_id: str, payload: dict[str, Any]) -> Envelope:
    """An event of a known kind whose payload coordination cannot read, in a stream of its own."""
    at = datetime(2026, 5, 2, 9, 0, tzinfo=UTC)
    return Envelope(id=uuid.uuid4(), source=f"/carecoord/{service}", type=event_type(service, name, 1),
                    subject=patient_id, time=at, clinic_id="clinic-a", stream_id=f"poison-{uuid.uuid4()}",
                    payload={"patient_id": patient_id, "occurred_at": at.isoformat(), "note": "Erika Mustermann",
                             **payload}, stream_version=1, recorded_at=at)


async def test_poison_on_any_input_topic_is_dead_lettered_while_the_patients_other_events_project(
        stack: Stack) -> None:
    pid = await enroll(stack.assessment)
    topic = stack.settings.topic
    bad = {
        "assessment": poison("assessment", "AssessmentRecorded", pid, {"instrument": "PHQ-9", "band": "mild"}),
        "pharmacy": poison("pharmacy", "DoseAdjusted", pid, {"medication_id": "m", "previous_dose": 5,
                                                             "dose": "lots", "unit": "mg", "direction": "up"}),
        "therapy": poison("therapy", "SessionCompleted", pid, {"session_id": "s"}),
        "coordination": poison("coordination", "EscalationDecided", pid, {
            "escalation_id": "e", "target": "surgery", "reason": "other", "due_by": "2026-05-09T09:00:00Z",
            "decided_by": "s"}),
    }
    episode = Episode(pid)
    start = episode.event("TherapyEpisodeStarted", datetime(2026, 5, 1, 14, tzinfo=UTC), modality="cbt", care_step=2)
    await produce(stack.kafka, topic("therapy"), [start])
    for service, env in bad.items():
        await produce(stack.kafka, topic(service), [env])
    key, _, headers = ce.encode(replace(start, id=uuid.uuid4()))
    garbage = (key, b'{"session_id": "s9", "note": "Erika', headers)
    headerless = (key, json.dumps({"session_id": "s9"}).encode(), [])
    await produce_raw(stack.kafka, topic("therapy"), [garbage, headerless])

    # The patient's good events, after the poison, on every topic.
    resp = await stack.assessment.post(f"/v1/patients/{pid}/assessments", headers=COORDINATOR, json={
        "instrument": "PHQ-9", "item_scores": [1, 1, 1, 1, 1, 1, 1, 1, 0], "administered_at": "2026-05-03T09:00:00Z"})
    assert resp.status_code == 201
    resp = await stack.pharmacy.post(f"/v1/patients/{pid}/medications", headers=COORDINATOR, json={
        "drug": {"code": "36437", "system": "RxNorm", "name": "sertraline"}, "dose": 50, "unit": "mg",
        "schedule": {"times_per_day": 1}, "started_at": "2026-05-03T10:00:00Z"})
    assert resp.status_code == 201
    resp = await stack.coordination.post(f"/v1/patients/{pid}/escalations", headers=COORDINATOR, json={
        "target": "psychotherapy", "reason": "non_response", "decided_at": "2026-05-04T10:00:00Z"})
    assert resp.status_code == 201
    await produce(stack.kafka, topic("therapy"), [episode.event(
        "SessionCompleted", datetime(2026, 5, 5, 14, tzinfo=UTC), session_id="s1", duration_min=50)])

    await wait_for_entries(stack.pool, {pid: 6})
    timeline = (await stack.coordination.get(f"/v1/patients/{pid}/timeline", headers=COORDINATOR)).json()
    assert [e["summary"] for e in timeline["entries"]] == [
        "CBT episode started at care step 2",
        "PHQ-9 8 (mild)",
        "sertraline started, 50 mg once daily (50 mg/day)",
        "escalation of psychotherapy decided (non response), due 2026-05-18",
        "CBT session completed (50 min)",
        "enrolled (age 40-49)",
    ]
    dead = {service: await read_topic(stack.kafka, f"{topic(service)}.dlq", at_least=3 if service == "therapy"
                                      else 1, timeout=30) for service in bad}
    for service, env in bad.items():
        ids = [dict(r.headers).get("ce_id") for r in dead[service]]
        assert str(env.id).encode() in ids, f"the {service} poison is not in its dead-letter topic"
    assert len(dead["therapy"]) == 3 and all(len(dead[s]) == 1 for s in ("assessment", "pharmacy", "coordination"))
    for records in dead.values():
        for r in records:
            h = dict(r.headers)
            assert h["dlq_consumer_group"].decode().endswith("coordination")
            assert b"Erika" not in h["dlq_error"] and h["dlq_error_type"]
    kinds = {dict(r.headers)["dlq_error_type"].decode() for records in dead.values() for r in records}
    assert kinds == {"ValidationError", "EnvelopeDecodeError"}
    summary = (await stack.coordination.get(f"/v1/patients/{pid}/summary", headers=COORDINATOR)).json()
    assert [m["drug"]["name"] for m in summary["medications"]] == ["sertraline"]
    assert len(summary["open_escalations"]) == 1
