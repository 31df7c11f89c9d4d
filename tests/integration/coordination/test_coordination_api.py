"""The coordination API at its edges: team decisions (defaults, refusals, roles, clinics,
idempotency, concurrency, the topic) and a timeline cursor that new and backdated events
cannot disturb."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from coordination_support import Episode, Stack, clinical_stack, enroll, produce, wait_for_entries

from services.coordination.domain.vocabulary import CONFERENCE_DECISIONS, ESCALATION_REASONS
from shared.envelope import Envelope
from shared.kafka import headers as ce
from tests.support.services import read_topic, token

COORD = token("coordinator", sub="coord-1")
T = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace) as s:
        yield s


async def score(stack: Stack, patient_id: str, at: datetime, total_items: int = 1) -> None:
    resp = await stack.assessment.post(f"/v1/patients/{patient_id}/assessments", headers=COORD, json={
        "instrument": "PHQ-9", "item_scores": [total_items] + [0] * 8, "administered_at": at.isoformat()})
    assert resp.status_code == 201, resp.text


async def page(stack: Stack, patient_id: str, cursor: str | None, limit: int = 3) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
    resp = await stack.coordination.get(f"/v1/patients/{patient_id}/timeline", headers=COORD, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_a_cursor_neither_repeats_nor_skips_when_late_and_backdated_events_arrive(stack: Stack) -> None:
    pid = await enroll(stack.assessment)
    for n in range(8):
        await score(stack, pid, T + timedelta(days=n), total_items=n % 4)
    await wait_for_entries(stack.pool, {pid: 9})
    first = await page(stack, pid, None)
    second = await page(stack, pid, first["next_cursor"])
    seen = [e["event_id"] for e in first["entries"] + second["entries"]]

    await score(stack, pid, T - timedelta(days=30))  # backdated: before everything read so far
    await score(stack, pid, T + timedelta(days=6, hours=12))  # between entries not read yet
    await wait_for_entries(stack.pool, {pid: 11})
    rest: list[dict[str, Any]] = []
    cursor = second["next_cursor"]
    while cursor:
        more = await page(stack, pid, cursor)
        rest += more["entries"]
        cursor = more["next_cursor"]
    later = [e["event_id"] for e in rest]
    assert not set(seen) & set(later), "an entry was repeated across pages"
    everything = (await page(stack, pid, None, limit=1000))["entries"]
    assert len(everything) == 11
    assert everything[0]["occurred_at"].startswith((T - timedelta(days=30)).date().isoformat())
    # Pages read after the backdated event continue exactly where the cursor stood.
    position = [e["event_id"] for e in everything].index(seen[-1])
    assert later == [e["event_id"] for e in everything[position + 1:]]
    assert len(seen) + len(later) == 10  # all but the backdated one, which sorts before the cursor
    assert any(e["occurred_at"].startswith((T + timedelta(days=6)).date().isoformat()) for e in rest)


async def test_team_decisions_are_recorded_with_defaults_and_published(stack: Stack) -> None:
    pid = await enroll(stack.assessment)
    await wait_for_entries(stack.pool, {pid: 1})  # known to coordination first: its decisions are the point
    base = f"/v1/patients/{pid}"
    esc = await stack.coordination.post(f"{base}/escalations", headers=COORD, json={
        "target": "pharmacotherapy", "reason": "non_response", "decided_at": "2026-09-01T10:00:00+02:00"})
    assert esc.status_code == 201, esc.text
    body = esc.json()
    assert datetime.fromisoformat(body["due_by"]) == datetime(2026, 9, 15, 8, 0, tzinfo=UTC)
    assert body["version"] == 1 and body["escalation_id"]
    review = await stack.coordination.post(f"{base}/care-plan-reviews", headers=token("therapist"), json={
        "reason": "escalation_follow_up", "reviewed_at": "2026-09-10T10:00:00Z", "goals": ["daily_functioning"]})
    assert review.status_code == 201 and review.json()["version"] == 2 and review.json()["review_id"]
    conference = await stack.coordination.post(f"{base}/case-conferences", headers=token("prescriber"), json={
        "held_at": "2026-09-12T13:00:00Z", "attendees": ["staff-1", "staff-4"], "decisions": ["continue_plan"]})
    assert conference.status_code == 201 and conference.json()["version"] == 3

    records = await read_topic(stack.kafka, stack.settings.topic(), at_least=3)
    assert len(records) == 3
    decoded = [ce.decode(r.value, r.headers) for r in records]
    assert [e.type for e in decoded] == ["carecoord.coordination.EscalationDecided.v1",
                                         "carecoord.coordination.CarePlanReviewed.v1",
                                         "carecoord.coordination.CaseConferenceHeld.v1"]
    assert {e.stream_id for e in decoded} == {f"care-plan-{pid}"} and [e.stream_version for e in decoded] == [1, 2, 3]
    assert all(r.key == pid.encode() and e.clinic_id == "clinic-a" for r, e in zip(records, decoded, strict=True))
    assert decoded[0].payload["decided_by"] == "coord-1" and decoded[0].actor == "coord-1"

    await wait_for_entries(stack.pool, {pid: 4})
    summary = (await stack.coordination.get(f"{base}/summary", headers=COORD)).json()
    assert [e["escalation_id"] for e in summary["open_escalations"]] == [body["escalation_id"]]
    assert summary["last_care_plan_review"]["goals"] == ["daily_functioning"]


async def test_refusals_roles_clinics_and_idempotent_retries(stack: Stack) -> None:
    pid = await enroll(stack.assessment)
    await wait_for_entries(stack.pool, {pid: 1})  # known to coordination: refusals, not 404, are the point
    base = f"/v1/patients/{pid}"
    good = {"target": "both", "reason": "relapse", "decided_at": "2026-09-01T10:00:00Z"}
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("escalations", {**good, "due_by": "2026-08-01T10:00:00Z"}, ["body", "due_by"]),
        ("escalations", {**good, "target": "surgery"}, ["body", "target"]),
        ("escalations", {**good, "reason": "a long story about the patient's family"}, ["body", "reason"]),
        ("escalations", {**good, "decided_at": "2026-09-01T10:00:00"}, ["body", "decided_at"]),
        ("escalations", {**good, "note": "free text"}, ["body", "note"]),
        ("care-plan-reviews", {"reason": "scheduled", "reviewed_at": "2026-09-01T10:00:00Z",
                               "goals": ["sleep_improvement", "sleep_improvement"]}, ["body", "goals"]),
        ("case-conferences", {"held_at": "2026-09-01T10:00:00Z", "attendees": [], "decisions": ["other"]},
         ["body", "attendees"]),
        ("case-conferences", {"held_at": "2026-09-01T10:00:00Z", "attendees": ["a", "a"],
                              "decisions": ["other"]}, ["body", "attendees"]),
        ("case-conferences", {"held_at": "2026-09-01T10:00:00Z", "attendees": ["a\u0000"],
                              "decisions": ["other"]}, ["body", "attendees"]),
    ]
    for path, body, loc in cases:
        resp = await stack.coordination.post(f"{base}/{path}", headers=COORD, json=body)
        assert resp.status_code == 422, (path, body, resp.text)
        assert resp.json()["detail"][0]["loc"][:2] == loc, resp.text
        assert "family" not in resp.text
    assert (await stack.coordination.post(f"{base}/escalations", headers=token("assessor"),
                                          json=good)).status_code == 403
    assert (await stack.coordination.post(f"{base}/escalations", headers=token("auditor"),
                                          json=good)).status_code == 403
    other = token("coordinator", clinics=("clinic-b",))
    assert (await stack.coordination.post(f"{base}/escalations", headers=other, json=good)).status_code == 404
    assert await stack.app.state.runtime.store.read_subject(pid) == []

    keyed = {**COORD, "Idempotency-Key": "esc-1"}
    first, second = [await stack.coordination.post(f"{base}/escalations", headers=keyed, json=good)
                     for _ in range(2)]
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert len(await stack.app.state.runtime.store.read_subject(pid)) == 1

    spec = (await stack.coordination.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert schemas["EscalationRequest"]["properties"]["reason"]["enum"] == list(ESCALATION_REASONS)
    decisions = schemas["CaseConferenceRequest"]["properties"]["decisions"]["items"]["enum"]
    assert decisions == list(CONFERENCE_DECISIONS)


async def test_concurrent_decisions_about_one_patient_are_all_recorded(stack: Stack) -> None:
    pid = await enroll(stack.assessment)
    await wait_for_entries(stack.pool, {pid: 1})  # known to coordination first: concurrency is the point
    bodies = [{"reason": "scheduled", "reviewed_at": f"2026-09-0{n + 1}T10:00:00Z"} for n in range(5)]
    results = await asyncio.gather(*(stack.coordination.post(f"/v1/patients/{pid}/care-plan-reviews",
                                                             headers=COORD, json=b) for b in bodies))
    assert [r.status_code for r in results] == [201] * 5, [r.text for r in results]
    assert sorted(r.json()["version"] for r in results) == [1, 2, 3, 4, 5]
    await wait_for_entries(stack.pool, {pid: 6})
    summary = (await stack.coordination.get(f"/v1/patients/{pid}/summary", headers=COORD)).json()
    assert summary["last_care_plan_review"]["at"].startswith("2026-09-05")


async def test_projection_status_shows_offsets_and_lag_per_input_partition(stack: Stack) -> None:
    pid = await enroll(stack.assessment)
    await wait_for_entries(stack.pool, {pid: 1})

    async def settled() -> dict[str, Any]:
        for _ in range(50):
            resp = await stack.coordination.get("/v1/projection/status", headers=COORD)
            assert resp.status_code == 200, resp.text
            status = resp.json()
            if sum(p["end"] for p in status["partitions"]) == 1 and all(p["lag"] == 0 for p in status["partitions"]):
                return status  # type: ignore[no-any-return]
            await asyncio.sleep(0.1)
        raise AssertionError(f"lag never reached 0: {status}")

    status = await settled()
    topics = {p["topic"] for p in status["partitions"]}
    assert topics == {stack.settings.topic(s) for s in ("assessment", "pharmacy", "therapy", "coordination")}
    assert len(status["partitions"]) == 4 * stack.settings.topic_partitions
    [enrolment] = [p for p in status["partitions"] if p["end"] == 1]
    assert enrolment["committed"] == 1 and enrolment["topic"] == stack.settings.topic("assessment")
    assert status["group"].endswith("coordination") and status["applied"] >= 1
    assert (await stack.coordination.get("/v1/projection/status", headers=token("therapist"))).status_code == 403


async def test_an_erased_patient_stays_readable_but_takes_no_new_decisions(stack: Stack) -> None:
    pid = await enroll(stack.assessment)
    erased = await stack.assessment.delete(f"/v1/patients/{pid}/identity", headers=token("admin"))
    assert erased.status_code == 204, erased.text
    await wait_for_entries(stack.pool, {pid: 2})
    resp = await stack.coordination.post(f"/v1/patients/{pid}/escalations", headers=COORD, json={
        "target": "both", "reason": "relapse", "decided_at": "2026-09-01T10:00:00Z"})
    assert resp.status_code == 409 and "erased" in resp.json()["detail"]
    summary = (await stack.coordination.get(f"/v1/patients/{pid}/summary", headers=COORD)).json()
    assert summary["identity_erased"] is True and summary["open_escalations"] == []
    timeline = (await stack.coordination.get(f"/v1/patients/{pid}/timeline", headers=COORD)).json()
    assert [e["summary"] for e in timeline["entries"]] == ["enrolled (age 40-49)", "identity erased"]


async def test_a_patient_is_unknown_until_the_projection_has_seen_the_enrolment(stack: Stack) -> None:
    pid = str(uuid.uuid4())
    episode = Episode(pid)
    await produce(stack.kafka, stack.settings.topic("therapy"), [
        episode.event("TherapyEpisodeStarted", T, modality="cbt", care_step=1)])
    await wait_for_entries(stack.pool, {pid: 1})
    for path in ("timeline", "summary"):
        assert (await stack.coordination.get(f"/v1/patients/{pid}/{path}", headers=COORD)).status_code == 404
    enrolment = Envelope(id=uuid.uuid4(), source="/carecoord/assessment",
                         type="carecoord.assessment.PatientEnrolled.v1", subject=pid, time=T + timedelta(hours=1),
                         clinic_id="clinic-a", stream_id=f"patient-{pid}",
                         payload={"patient_id": pid, "clinic_id": "clinic-a", "age_band": "30-39",
                                  "preferences": {}, "occurred_at": (T + timedelta(hours=1)).isoformat()},
                         stream_version=1, recorded_at=datetime.now(UTC))
    await produce(stack.kafka, stack.settings.topic("assessment"), [enrolment])
    await wait_for_entries(stack.pool, {pid: 2})
    timeline = (await stack.coordination.get(f"/v1/patients/{pid}/timeline", headers=COORD)).json()
    assert [e["summary"] for e in timeline["entries"]] == ["CBT episode started at care step 1",
                                                           "enrolled (age 30-39)"]
