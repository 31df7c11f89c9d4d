"""The auditors' history of a patient: every event from every service with its metadata and its
chain status — events of the real services verify; a record produced by hand whose ce_hash does
not match its content is a mismatch, one without ce_hash says so, one whose predecessor never
arrived is a held-back gap; the flag events from coordination's own store verify too. As JSON
and as NDJSON; auditors only, and another clinic's patient is a 404 like a missing one."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from audit_support import AUDITOR_A, AUDITOR_B, CLINICIAN, DRUGS, AuditStack, audit_stack, days_ago

from shared.envelope import Envelope, chain_hash, event_type
from shared.kafka import headers as ce
from shared.kafka.clients import make_producer
from tests.support.services import token, wait_until


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[AuditStack]:
    async with audit_stack(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


def episode(patient_id: str, events: list[tuple[str, dict[str, Any]]], start: int = 1) -> list[Envelope]:
    """A therapy stream as therapy's store seals it (each hash chained to the one before)."""
    eid, out, prev = str(uuid.uuid4()), [], None
    for n, (name, payload) in enumerate(events, start=start):
        at = days_ago(10 - n)
        env = Envelope(id=uuid.uuid4(), source="/carecoord/therapy", type=event_type("therapy", name, 1),
                       subject=patient_id, time=at, clinic_id="clinic-a", stream_id=f"episode-{eid}",
                       payload={"patient_id": patient_id, "episode_id": eid, "occurred_at": at.isoformat(), **payload},
                       stream_version=n, recorded_at=datetime.now(UTC), actor="therapist-7",
                       correlation_id=str(uuid.uuid4()))
        env = replace(env, hash=chain_hash(prev, env))
        prev = env.hash
        out.append(env)
    return out


async def produce(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for env in envelopes:
            key, value, headers = ce.encode(env)
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_history_shows_every_event_with_its_metadata_and_chain_status(stack: AuditStack) -> None:
    pid = await stack.enroll()
    await stack.score(pid, days_ago(30), [2, 2, 2, 2, 2, 1, 1, 1, 0])
    await stack.start(pid, DRUGS[0], days_ago(28))
    resp = await stack.coordination.post(f"/v1/patients/{pid}/escalations", headers=CLINICIAN, json={
        "target": "psychotherapy", "reason": "non_response", "decided_at": days_ago(20).isoformat()})
    assert resp.status_code == 201, resp.text  # never enacted: a stalled escalation 6 days ago
    sessions = episode(pid, [("TherapyEpisodeStarted", {"modality": "cbt", "care_step": 2}),
                             ("SessionScheduled", {"session_id": "s-1"}),
                             ("SessionCompleted", {"session_id": "s-1", "duration_min": 50}),
                             ("SessionMissed", {"session_id": "s-2"})])
    sessions[2] = replace(sessions[2], payload={**sessions[2].payload, "duration_min": 90})  # altered on its way
    sessions[3] = replace(sessions[3], hash=None)  # a producer that publishes no ce_hash
    broken = episode(pid, [("TherapyEpisodeStarted", {"modality": "act", "care_step": 1}),
                           ("SessionScheduled", {"session_id": "s-3"}),
                           ("SessionCompleted", {"session_id": "s-3", "duration_min": 45})])
    await produce(stack.kafka, stack.settings.topic("therapy"), [*sessions, broken[0], broken[2]])  # [1] lost
    await stack.projected(pid, 9)
    await wait_until(lambda: stack.pool.fetchval("SELECT count(*) FROM projection_parked"), timeout=10)
    flag_events = await stack.pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", f"flags-{pid}")
    assert flag_events >= 1

    resp = await stack.coordination.get(f"/v1/audit/patients/{pid}/history", headers=AUDITOR_A)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    events = body["events"]
    by_id = {e["event_id"]: e for e in events}
    assert len(events) == 9 + 1 + flag_events
    status = {e.id: by_id[str(e.id)]["verification"] for e in [*sessions, broken[0], broken[2]]}
    assert [status[e.id] for e in sessions] == ["verified", "verified", "hash mismatch", "no hash"]
    assert status[broken[0].id] == "verified" and status[broken[2].id] == "gap"
    assert by_id[str(broken[2].id)]["held_back"] is True
    services = Counter((e["service"], e["verification"]) for e in events if e["stream_id"].split("-")[0] != "episode")
    assert services == {("assessment", "verified"): 2, ("pharmacy", "verified"): 1,
                        ("coordination", "verified"): 1 + flag_events}
    assert body["verification"] == {"verified": 3 + 2 + 1 + 1 + flag_events, "hash mismatch": 1, "gap": 1,
                                     "no hash": 1}  # therapy 3, assessment 2, pharmacy 1, the decision, flags
    assert Counter(e["verification"] for e in events) == body["verification"]

    started = next(e for e in events if e["type"] == "carecoord.pharmacy.MedicationStarted.v2")
    assert started["actor"] == "clin-1" and started["correlation_id"] and started["sequence"] == 1
    assert started["stream_id"].startswith("medication-") and started["recorded_at"] and started["hash"]
    raised = next(e for e in events if e["type"].startswith("carecoord.coordination.RiskFlagRaised"))
    assert raised["payload"]["rule_id"] == "stalled_escalation"
    assert raised["causation_id"] in by_id, "the flag names the event whose arrival evaluated it"
    recorded = [e["recorded_at"] for e in events]
    assert [datetime.fromisoformat(r) for r in recorded] == sorted(datetime.fromisoformat(r) for r in recorded)

    resp = await stack.coordination.get(f"/v1/audit/patients/{pid}/history",
                                        headers={**AUDITOR_A, "Accept": "application/x-ndjson"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert lines == events

    reads = await stack.pool.fetchval("SELECT count(*) FROM access_log WHERE patient_id = $1 AND "
                                      "action = 'read audit history' AND staff_id = 'audit-a'", pid)
    assert reads == 2


async def test_only_auditors_of_the_patients_clinic_read_the_history(stack: AuditStack) -> None:
    pid = await stack.enroll("clinic-a")
    await stack.projected(pid, 1)
    url = f"/v1/audit/patients/{pid}/history"
    other = await stack.coordination.get(url, headers=AUDITOR_B)
    missing = await stack.coordination.get(f"/v1/audit/patients/{uuid.uuid4()}/history", headers=AUDITOR_B)
    assert (other.status_code, other.json()) == (missing.status_code, missing.json()) == (
        404, {"detail": "patient not found"})
    assert (await stack.coordination.get(url, headers=CLINICIAN)).status_code == 403
    assert (await stack.coordination.get(url, headers=token("admin", clinics=("clinic-a",)))).status_code == 403
    assert (await stack.coordination.get(url)).status_code == 401
    assert (await stack.coordination.get(url, headers=AUDITOR_A)).status_code == 200
