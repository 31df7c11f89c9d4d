"""Notes beside pharmacy codes: written with the command, kept in pharmacy's database only,
read by the care team (and logged), deleted when assessment erases the patient's identity,
and never on the pharmacy topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.assessment.app import create_app as create_assessment
from services.pharmacy.app import create_app as create_pharmacy
from shared.patient_api import identity_erased
from tests.support.services import make_settings, read_topic, running, token, wait_until

PRESCRIBER = token("prescriber")
CANARY = "Anna Canary-Beispiel, Lindenweg 4"  # what a clinician might type about a person


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[dict[str, Any]]:
    common = dict(pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)
    p_settings = make_settings("pharmacy", directory_miss_wait_seconds=5, **common)
    async with running(create_assessment, make_settings("assessment", **common)) as (_, assessment), \
            running(create_pharmacy, p_settings) as (pharmacy_app, pharmacy):
        yield {"assessment": assessment, "pharmacy": pharmacy, "app": pharmacy_app, "settings": p_settings}


async def _patient(client: httpx.AsyncClient) -> str:
    resp = await client.post("/v1/patients", headers=token("coordinator"), json={
        "clinic_id": "clinic-a", "display_name": "Test Patient", "birth_date": "1985-03-01"})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["patient_id"])


async def _post(ph: httpx.AsyncClient, path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    resp = await ph.post(path, json=body, headers={**PRESCRIBER, **headers})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def _course_with_notes(ph: httpx.AsyncClient, pid: str, who: str) -> tuple[str, list[str]]:
    """A course whose every command carries a note naming ``who``; its event ids in order."""
    base = f"/v1/patients/{pid}/medications"
    started = await _post(ph, base, {
        "drug": {"code": "36437", "system": "RxNorm", "name": f"sertraline for {who}"}, "dose": 50, "unit": "mg",
        "schedule": {"times_per_day": 1}, "indication": {"system": "ICD-10", "code": "F32.1"},
        "indication_note": f"low mood since {who} lost her job", "started_at": "2026-11-01T08:00:00Z"},
        **{"Idempotency-Key": f"start-{pid}"})
    mid = started["medication_id"]
    events = [started["event_id"]]
    for path, body in (
            ("dose-adjustments", {"dose": 250, "unit": "mg", "reason": "insufficient_response",
                                  "reason_note": f"{who} says no better", "override_reason": "specialist_advice",
                                  "override_reason_note": f"Dr Who advised for {who}",
                                  "effective_at": "2026-11-15T08:00:00Z"}),
            ("adverse-effects", {"effect": "other", "effect_note": f"{who} fainted at the bus stop",
                                 "severity": "moderate", "observed_at": "2026-11-16T08:00:00Z"}),
            ("discontinuation", {"reason": "adverse_effect", "reason_note": f"{who} asked to stop",
                                 "effective_at": "2026-11-20T08:00:00Z"})):
        events.append((await _post(ph, f"{base}/{mid}/{path}", body))["event_id"])
    return mid, events


async def _notes(pool: Any, patient_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM medication_note WHERE patient_id = $1", patient_id))


async def test_notes_stay_in_pharmacy_and_go_with_the_identity(stack, kafka_bootstrap) -> None:  # type: ignore[no-untyped-def]
    assessment, ph = stack["assessment"], stack["pharmacy"]
    pool = stack["app"].state.runtime.pool
    pid, bystander = await _patient(assessment), await _patient(assessment)
    mid, events = await _course_with_notes(ph, pid, CANARY)
    other_mid, _ = await _course_with_notes(ph, bystander, "a bystander")

    path = f"/v1/patients/{pid}/medications/{mid}/notes"
    notes = (await ph.get(path, headers=token("therapist", sub="therapist-4"))).json()
    assert [(n["event_id"], n["field"]) for n in notes] == [
        (events[0], "indication_note"), (events[1], "override_reason_note"), (events[1], "reason_note"),
        (events[2], "effect_note"), (events[3], "reason_note")]
    assert all(CANARY in n["note"] for n in notes)
    assert (await ph.get(path, headers=token("admin"))).status_code == 403  # not the care team
    assert (await ph.get(path, headers=token("auditor"))).status_code == 403
    assert (await ph.get(path, headers=token("coordinator", clinics=("clinic-b",)))).status_code == 404
    assert (await ph.get(f"/v1/patients/{pid}/medications/{other_mid}/notes", headers=PRESCRIBER)).status_code == 404
    log = (await ph.get(f"/v1/patients/{pid}/access-log", headers=token("auditor"))).json()
    assert ("therapist-4", "read medication notes") in [(e["staff_id"], e["action"]) for e in log]
    # the course as every reader sees it carries codes and the formulary's drug name only
    course = (await ph.get(f"/v1/patients/{pid}/medications/{mid}", headers=PRESCRIBER)).json()
    assert course["drug"]["name"] == "sertraline" and CANARY not in str(course)

    erased = await assessment.delete(f"/v1/patients/{pid}/identity", headers=token("admin"))
    assert erased.status_code == 204, erased.text
    await wait_until(lambda: identity_erased(pool, pid))
    assert await _notes(pool, pid) == 0  # deleted in the directory's own transaction
    assert (await ph.get(path, headers=PRESCRIBER)).json() == []
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE subject = $1", pid) == 0
    assert await _notes(pool, bystander) == 5  # another patient's notes stay

    records = await read_topic(kafka_bootstrap, stack["settings"].topic(), at_least=8)
    assert len(records) == 8
    for record in records:
        seen = (record.value or b"") + b"".join(v for _, v in record.headers)
        assert CANARY.encode() not in seen and b"bystander" not in seen
    assert {dict(r.headers)["ce_type"].split(b".")[-1] for r in records} == {b"v2"}
