"""The pharmacy service end to end with the assessment service beside it: patients and
their clinics come from enrollment events through the directory; commands go in over HTTP
and come out on the real topic with CloudEvents headers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.assessment.app import create_app as create_assessment
from services.pharmacy.app import create_app as create_pharmacy
from shared.kafka import headers as ce
from tests.support.services import make_settings, read_topic, running, token

PRESCRIBER = token("prescriber")
COORD = token("coordinator")
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[dict[str, Any]]:
    common = dict(pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)
    a_settings = make_settings("assessment", **common)
    # a busy machine can take more than the default second to bring an enrolment to pharmacy
    p_settings = make_settings("pharmacy", directory_miss_wait_seconds=5, **common)
    async with running(create_assessment, a_settings) as (_, assessment), \
            running(create_pharmacy, p_settings) as (pharmacy_app, pharmacy):
        yield {"assessment": assessment, "pharmacy": pharmacy, "app": pharmacy_app, "settings": p_settings}


async def _patient(client: httpx.AsyncClient, clinic: str = "clinic-a") -> str:
    resp = await client.post("/v1/patients", headers=token("coordinator", clinics=(clinic,)), json={
        "clinic_id": clinic, "display_name": "Test Patient", "birth_date": "1985-03-01"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["patient_id"])


def _start(**over: Any) -> dict[str, Any]:
    body = {"drug": SERTRALINE, "dose": 50, "unit": "mg", "schedule": {"times_per_day": 1},
            "route": "oral", "indication": {"system": "ICD-10", "code": "F32.1"},
            "started_at": "2026-11-01T08:00:00Z"}
    body.update(over)
    return body


async def test_course_lifecycle_reaches_the_topic_with_cloudevents_headers(stack, kafka_bootstrap) -> None:  # type: ignore[no-untyped-def]
    pid = await _patient(stack["assessment"])
    ph: httpx.AsyncClient = stack["pharmacy"]
    base = f"/v1/patients/{pid}/medications"
    started = await ph.post(base, json=_start(), headers=PRESCRIBER)
    assert started.status_code == 201, started.text
    mid = started.json()["medication_id"]
    assert started.json()["version"] == 1 and started.json()["status"] == "active"
    adj = await ph.post(f"{base}/{mid}/dose-adjustments", headers=PRESCRIBER, json={
        "dose": 100, "unit": "mg", "reason": "insufficient_response", "effective_at": "2026-11-15T08:00:00Z",
        "expected_version": 1})
    assert adj.status_code == 201, adj.text
    assert adj.json()["version"] == 2 and adj.json()["dose"] == 100
    ae = await ph.post(f"{base}/{mid}/adverse-effects", headers=PRESCRIBER, json={
        "effect": "nausea", "severity": "moderate", "observed_at": "2026-11-16T08:00:00Z"})
    assert ae.status_code == 201, ae.text
    stop = await ph.post(f"{base}/{mid}/discontinuation", headers=PRESCRIBER, json={
        "reason": "switch", "effective_at": "2026-11-20T08:00:00Z"})
    assert stop.status_code == 201 and stop.json()["status"] == "discontinued"
    late = await ph.post(f"{base}/{mid}/dose-adjustments", headers=PRESCRIBER, json={
        "dose": 50, "unit": "mg", "reason": "taper", "effective_at": "2026-11-21T08:00:00Z"})
    assert late.status_code == 409, late.text

    courses = (await ph.get(base, headers=COORD)).json()
    assert [(c["medication_id"], c["status"], c["dose"], c["version"]) for c in courses] == \
        [(mid, "discontinued", 100, 4)]
    assert courses[0]["drug"] == SERTRALINE and courses[0]["formulary"]["serotonergic"] is True
    one = (await ph.get(f"{base}/{mid}", headers=COORD)).json()
    assert [h["event_type"] for h in one["history"]] == \
        ["MedicationStarted", "DoseAdjusted", "AdverseEffectReported", "MedicationDiscontinued"]

    records = await read_topic(kafka_bootstrap, stack["settings"].topic(), at_least=4)
    assert len(records) == 4
    h = dict(records[1].headers)
    assert h["ce_type"] == b"carecoord.pharmacy.DoseAdjusted.v2"
    assert h["ce_specversion"] == b"1.0" and h["ce_source"] == b"/carecoord/pharmacy"
    assert h["ce_subject"] == pid.encode() and h["ce_clinicid"] == b"clinic-a"
    assert h["ce_sequence"] == b"2" and h["ce_actor"] == b"staff-1" and h["content-type"] == b"application/json"
    payload = ce.decode(records[1].value, records[1].headers).payload
    assert payload["previous_dose"] == 50 and payload["dose"] == 100 and payload["reason"] == "insufficient_response"
    assert payload["occurred_at"].startswith("2026-11-15")
    assert all(r.key == pid.encode() for r in records)


async def test_concurrent_adjustments_one_succeeds_one_conflicts(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await _patient(stack["assessment"])
    ph: httpx.AsyncClient = stack["pharmacy"]
    base = f"/v1/patients/{pid}/medications"
    mid = (await ph.post(base, json=_start(), headers=PRESCRIBER)).json()["medication_id"]
    bodies = [{"dose": d, "unit": "mg", "reason": "titration", "effective_at": "2026-11-10T08:00:00Z",
               "expected_version": 1} for d in (75, 100)]
    results = await asyncio.gather(*(ph.post(f"{base}/{mid}/dose-adjustments", json=b, headers=PRESCRIBER)
                                     for b in bodies))
    assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
    course = (await ph.get(f"{base}/{mid}", headers=COORD)).json()
    assert course["version"] == 2
    winner = next(r for r in results if r.status_code == 201).json()
    assert course["dose"] == winner["dose"]


async def test_other_clinic_gets_404_and_leaves_no_trace(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await _patient(stack["assessment"], clinic="clinic-a")
    ph: httpx.AsyncClient = stack["pharmacy"]
    other = token("prescriber", "coordinator", clinics=("clinic-b",))
    base = f"/v1/patients/{pid}/medications"
    mid = (await ph.post(base, json=_start(), headers=PRESCRIBER)).json()["medication_id"]
    store = stack["app"].state.runtime.store
    before = len(await store.read_all())
    assert (await ph.post(base, json=_start(), headers=other)).status_code == 404
    resp = await ph.post(f"{base}/{mid}/dose-adjustments", headers=other, json={
        "dose": 100, "unit": "mg", "reason": "titration", "effective_at": "2026-11-10T08:00:00Z"})
    assert resp.status_code == 404
    assert (await ph.get(base, headers=other)).status_code == 404
    assert (await ph.get(f"{base}/{mid}", headers=other)).status_code == 404
    assert len(await store.read_all()) == before
    unknown = await ph.post("/v1/patients/no-such-patient/medications", json=_start(), headers=PRESCRIBER)
    assert unknown.status_code == 404
    assert (await ph.post(base, json=_start(), headers=token("therapist"))).status_code == 403


async def test_formulary_maximum_needs_an_override_reason(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await _patient(stack["assessment"])
    ph: httpx.AsyncClient = stack["pharmacy"]
    base = f"/v1/patients/{pid}/medications"
    refused = await ph.post(base, json=_start(dose=150, schedule={"times_per_day": 2}), headers=PRESCRIBER)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "dose"]
    assert "200" in refused.json()["detail"][0]["msg"]
    allowed = await ph.post(base, headers=PRESCRIBER, json=_start(
        dose=150, schedule={"times_per_day": 2}, override_reason="specialist_advice"))
    assert allowed.status_code == 201, allowed.text
    course = (await ph.get(f"{base}/{allowed.json()['medication_id']}", headers=COORD)).json()
    assert course["history"][0]["data"]["override_reason"] == "specialist_advice"
    assert course["daily_dose_mg"] == 300
    unknown_drug = await ph.post(base, headers=PRESCRIBER, json=_start(
        drug={"code": "9999999", "system": "RxNorm", "name": "investigational"}))
    assert unknown_drug.status_code == 201
    listed = (await ph.get(base, headers=COORD)).json()
    assert len(listed) == 2 and {c["formulary"]["known"] for c in listed} == {True, False}


async def test_bad_input_is_422_with_field_and_reason(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await _patient(stack["assessment"])
    ph: httpx.AsyncClient = stack["pharmacy"]
    base = f"/v1/patients/{pid}/medications"
    cases = [
        (_start(dose=0), ["body", "dose"]),
        (_start(dose=-5), ["body", "dose"]),
        (_start(unit="spoonful"), ["body", "unit"]),
        (_start(started_at="2026-11-01T08:00:00"), ["body", "started_at"]),
        (_start(drug={"code": "1", "system": "SNOMED", "name": "x"}), ["body", "drug", "system"]),
        (_start(schedule={}), ["body", "schedule"]),
        (_start(indication_note="depression\u0000"), ["body", "indication_note"]),  # PostgreSQL cannot store NUL
        (_start(indication="depression"), ["body", "indication"]),  # a code, not words
        (_start(indication={"system": "ICD-10", "code": "depression"}), ["body", "indication", "code"]),
        (_start(override_reason="specialist recommendation"), ["body", "override_reason"]),
    ]
    for body, loc in cases:
        resp = await ph.post(base, json=body, headers=PRESCRIBER)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["detail"][0]["loc"][: len(loc)] == loc, resp.text
    mid = (await ph.post(base, json=_start(), headers=PRESCRIBER)).json()["medication_id"]
    same = await ph.post(f"{base}/{mid}/dose-adjustments", headers=PRESCRIBER, json={
        "dose": 50, "unit": "mg", "reason": "titration", "effective_at": "2026-11-10T08:00:00Z"})
    assert same.status_code == 422 and same.json()["detail"][0]["loc"] == ["body", "dose"]
    early = await ph.post(f"{base}/{mid}/dose-adjustments", headers=PRESCRIBER, json={
        "dose": 100, "unit": "mg", "reason": "titration", "effective_at": "2026-10-01T08:00:00Z"})
    assert early.status_code == 422 and early.json()["detail"][0]["loc"] == ["body", "effective_at"]
    assert len((await ph.get(base, headers=COORD)).json()) == 1
    too_big = await ph.post(f"{base}/{mid}/dose-adjustments", headers=PRESCRIBER, json={
        "dose": 75, "unit": "mg", "reason": "titration", "effective_at": "2026-11-10T08:00:00Z",
        "expected_version": 2**40})
    assert too_big.status_code == 422 and too_big.json()["detail"][0]["loc"] == ["body", "expected_version"]
    assert (await ph.get(f"/v1/patients/{pid}/medications/a%00b", headers=COORD)).status_code == 404
    surrogate = json.dumps(_start(indication_note="\ud800"), ensure_ascii=True).encode()  # a lone surrogate
    resp = await ph.post(base, content=surrogate, headers={**PRESCRIBER, "Content-Type": "application/json"})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "indication_note"]
    for path, body, field in ((f"{base}/{mid}/dose-adjustments", {"dose": 75, "unit": "mg", "reason": "better",
                                                                 "effective_at": "2026-11-10T08:00:00Z"}, "reason"),
                              (f"{base}/{mid}/discontinuation", {"reason": "moved away",
                                                                 "effective_at": "2026-11-10T08:00:00Z"}, "reason"),
                              (f"{base}/{mid}/adverse-effects", {"effect": "felt odd", "severity": "mild",
                                                                 "observed_at": "2026-11-10T08:00:00Z"}, "effect")):
        resp = await ph.post(path, json=body, headers=PRESCRIBER)
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", field], resp.text


async def test_idempotent_retry_appends_nothing(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await _patient(stack["assessment"])
    ph: httpx.AsyncClient = stack["pharmacy"]
    base = f"/v1/patients/{pid}/medications"
    headers = {**PRESCRIBER, "Idempotency-Key": "start-1"}
    first, second = [await ph.post(base, json=_start(), headers=headers) for _ in range(2)]
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert len((await ph.get(base, headers=COORD)).json()) == 1


async def test_trace_context_travels_from_request_to_kafka_record(stack, kafka_bootstrap) -> None:  # type: ignore[no-untyped-def]
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    pid = await _patient(stack["assessment"])
    ph: httpx.AsyncClient = stack["pharmacy"]
    correlation = "6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB"
    headers = {**PRESCRIBER, "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", "X-Correlation-Id": correlation}
    resp = await ph.post(f"/v1/patients/{pid}/medications", json=_start(), headers=headers)
    assert resp.status_code == 201
    # a correlation id that is not a UUID (here, something a person typed) never reaches Kafka
    typed = {**PRESCRIBER, "X-Correlation-Id": "Erika Mustermann case 7"}
    assert (await ph.post(f"/v1/patients/{pid}/medications", json=_start(), headers=typed)).status_code == 201
    records = await read_topic(kafka_bootstrap, stack["settings"].topic(), at_least=2)
    h = dict(records[0].headers)
    assert h["traceparent"].decode().split("-")[1] == trace_id  # the request's trace continues on Kafka
    assert h["ce_correlationid"] == correlation.lower().encode()
    replaced = dict(records[1].headers)["ce_correlationid"].decode()
    assert "Erika" not in replaced and str(uuid.UUID(replaced)) == replaced


async def test_every_read_of_patient_data_is_recorded_for_auditors(stack) -> None:  # type: ignore[no-untyped-def]
    pid = await _patient(stack["assessment"])
    ph: httpx.AsyncClient = stack["pharmacy"]
    base = f"/v1/patients/{pid}/medications"
    mid = (await ph.post(base, json=_start(), headers=PRESCRIBER)).json()["medication_id"]
    await ph.get(base, headers=token("coordinator", sub="nurse-9"))
    await ph.get(f"{base}/{mid}", headers=token("therapist", sub="therapist-4"))
    assert (await ph.get(f"/v1/patients/{pid}/access-log", headers=COORD)).status_code == 403
    other = token("auditor", clinics=("clinic-b",))
    assert (await ph.get(f"/v1/patients/{pid}/access-log", headers=other)).status_code == 404
    log = (await ph.get(f"/v1/patients/{pid}/access-log", headers=token("auditor", sub="auditor-1"))).json()
    assert [(e["staff_id"], e["action"], e["clinic_id"], e["status"]) for e in log] == [
        ("nurse-9", "read medications", "clinic-a", None),
        ("therapist-4", "read medication", "clinic-a", None),
        ("staff-1", "refused request", "clinic-a", 403),  # refused attempts are recorded too
        ("staff-1", "refused request", "clinic-a", 404),
        ("auditor-1", "read access log", "clinic-a", None),
    ]
    assert log[0]["roles"] == ["coordinator"]


async def test_an_admin_manages_identity_but_does_not_prescribe(stack) -> None:  # type: ignore[no-untyped-def]
    """Least privilege (before, the admin role could start, change and stop medication courses)."""
    admin = token("admin")
    patient = await _patient(stack["assessment"])
    refused = await stack["pharmacy"].post(f"/v1/patients/{patient}/medications", headers=admin, json=_start())
    assert refused.status_code == 403, refused.text
    started = await stack["pharmacy"].post(f"/v1/patients/{patient}/medications", headers=PRESCRIBER, json=_start())
    assert started.status_code == 201, started.text
    medication = started.json()["medication_id"]
    for path, body in ((f"{medication}/dose-adjustments", {"new_dose": 100, "unit": "mg", "reason": "titration",
                                                           "adjusted_at": "2026-11-08T08:00:00Z",
                                                           "expected_version": 1}),
                       (f"{medication}/discontinuation", {"reason": "remission",
                                                          "stopped_at": "2026-11-09T08:00:00Z"})):
        response = await stack["pharmacy"].post(f"/v1/patients/{patient}/medications/{path}", headers=admin, json=body)
        assert response.status_code == 403, (path, response.text)
    # reading the course is still allowed (an admin supports the clinic's staff)
    listed = await stack["pharmacy"].get(f"/v1/patients/{patient}/medications", headers=admin)
    assert listed.status_code == 200, listed.text
