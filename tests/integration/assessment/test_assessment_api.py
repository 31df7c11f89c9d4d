"""The assessment service end to end: HTTP in, events on the real topic, identity kept
out of Kafka, erasure for good, clinic scoping, idempotent retries."""

from __future__ import annotations

import re

import asyncpg
import pytest

from services.assessment.app import create_app
from shared.kafka import headers as ce
from tests.support.services import make_settings, read_topic, running, token

NAME = "Zelda Quartermaine"
BIRTH = "1971-04-09"
MRN = "MRN-77Q-4410"
NOTE = "lost job at Quartermaine Logistics"
IDENTIFYING = [NAME, "Quartermaine", BIRTH, "1971", "09.04.1971", "04/09/1971", MRN, NOTE]


def _leaks(secret: str, text: str) -> bool:
    """``secret`` in ``text`` as a value of its own: the bare year must not match inside a
    hash's hex digits or a timestamp's microseconds (".197134"), which would be noise."""
    if secret.isdigit():
        return re.search(rf"(?<![0-9A-Fa-f.]){secret}(?![0-9A-Fa-f])", text) is not None
    return secret in text

COORD = token("coordinator")
ASSESSOR = token("assessor")


@pytest.fixture
def settings(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str):  # type: ignore[no-untyped-def]
    return make_settings("assessment", pg_url=pg_url, kafka=kafka_bootstrap, schema=schema, namespace=namespace)


async def _enroll(client, headers=COORD, **extra):  # type: ignore[no-untyped-def]
    body = {"clinic_id": "clinic-a", "display_name": NAME, "birth_date": BIRTH, "external_ref": MRN,
            "preferences": {"language": "de", "prefers_non_pharmacological_first": True}, **extra}
    resp = await client.post("/v1/patients", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _record_text(rec) -> str:  # type: ignore[no-untyped-def]
    parts = [rec.key or b"", rec.value or b""] + [v for _, v in rec.headers]
    return b"\n".join(parts).decode("utf-8", "replace")


async def test_events_published_with_cloudevents_headers_and_no_identity(settings, kafka_bootstrap) -> None:  # type: ignore[no-untyped-def]
    async with running(create_app, settings) as (_, client):
        patient = await _enroll(client)
        pid = patient["patient_id"]
        assert patient["age_band"] == "50-59"
        resp = await client.post(f"/v1/patients/{pid}/assessments", headers=ASSESSOR, json={
            "instrument": "PHQ-9", "item_scores": [2, 2, 2, 2, 2, 2, 2, 1, 1],
            "administered_at": "2026-11-02T09:30:00+01:00"})
        assert resp.status_code == 201, resp.text
        assert resp.json()["total"] == 16 and resp.json()["band"] == "moderately_severe"
        assert resp.json()["safety_item_positive"] is True
        resp = await client.post(f"/v1/patients/{pid}/life-events", headers=ASSESSOR, json={
            "category": "employment", "direction": "worsened", "impact": "high",
            "occurred_at": "2026-11-01T00:00:00Z", "note": NOTE})
        assert resp.status_code == 201, resp.text
        records = await read_topic(kafka_bootstrap, settings.topic(), at_least=3)
    assert len(records) == 3
    envs = [ce.decode(r.value, r.headers) for r in records]
    assert [e.event_name for e in envs] == ["PatientEnrolled", "AssessmentRecorded", "LifeCircumstanceChanged"]
    assert all(r.key == pid.encode() for r in records)
    assert [e.stream_version for e in envs] == [1, 2, 3]
    first = dict(records[0].headers)
    assert first["ce_type"] == b"carecoord.assessment.PatientEnrolled.v1"
    assert first["ce_source"] == b"/carecoord/assessment"
    assert first["ce_clinicid"] == b"clinic-a" and first["ce_subject"] == pid.encode()
    assert envs[0].payload["preferences"]["prefers_non_pharmacological_first"] is True
    assert envs[1].payload["loinc"] == "44261-6"
    for rec in records:
        text = _record_text(rec)
        for secret in IDENTIFYING:
            assert not _leaks(secret, text), f"identifying data on the topic: {secret!r}"


async def test_erasure_removes_identity_for_good_and_keeps_history(settings, kafka_bootstrap, pg_url, schema) -> None:  # type: ignore[no-untyped-def]
    admin = token("admin")
    async with running(create_app, settings) as (app, client):
        pid = (await _enroll(client, headers={**COORD, "Idempotency-Key": "enroll-1"}))["patient_id"]
        await client.post(f"/v1/patients/{pid}/life-events", headers=ASSESSOR, json={
            "category": "bereavement", "direction": "worsened", "impact": "moderate",
            "occurred_at": "2026-10-01T00:00:00Z", "note": NOTE})
        await client.post(f"/v1/patients/{pid}/assessments", headers=ASSESSOR, json={
            "instrument": "GAD-7", "item_scores": [1] * 7, "administered_at": "2026-10-02T10:00:00Z"})
        assert (await client.get(f"/v1/patients/{pid}", headers=COORD)).json()["display_name"] == NAME

        assert (await client.delete(f"/v1/patients/{pid}/identity", headers=COORD)).status_code == 403
        resp = await client.delete(f"/v1/patients/{pid}/identity", headers=admin)
        assert resp.status_code == 204, resp.text
        assert (await client.delete(f"/v1/patients/{pid}/identity", headers=admin)).status_code == 204

        after = (await client.get(f"/v1/patients/{pid}", headers=COORD)).json()
        assert after["identity_erased"] is True
        assert after["display_name"] is None and after["birth_date"] is None and after["external_ref"] is None
        history = (await client.get(f"/v1/patients/{pid}/assessments", headers=COORD)).json()
        assert [a["total"] for a in history] == [7]
        life = (await client.get(f"/v1/patients/{pid}/life-events", headers=COORD)).json()
        assert life[0]["category"] == "bereavement" and life[0]["note"] is None
        verified = await app.state.runtime.store.verify(f"patient-{pid}")
        assert verified.ok and verified.checked == 4
        records = await read_topic(kafka_bootstrap, settings.topic(), at_least=4)

    assert [ce.decode(r.value, r.headers).event_name for r in records][-1] == "PatientIdentityErased"
    for rec in records:
        for secret in IDENTIFYING:
            assert not _leaks(secret, _record_text(rec))
    # Nothing identifying in any table of the service's schema.
    conn = await asyncpg.connect(pg_url)
    try:
        tables = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                                  settings.database_schema)
        assert len(tables) >= 6
        for t in tables:
            table = f'"{settings.database_schema}"."{t["table_name"]}"'
            dump = await conn.fetchval(f"SELECT coalesce(string_agg(x::text, ' '), '') FROM {table} x")
            for secret in IDENTIFYING:
                assert not _leaks(secret, dump), f"{secret!r} left in table {t['table_name']}"
    finally:
        await conn.close()


async def test_clinic_scoping_roles_and_authentication(settings) -> None:  # type: ignore[no-untyped-def]
    other_clinic = token("coordinator", "assessor", clinics=("clinic-b",))
    async with running(create_app, settings) as (app, client):
        pid = (await _enroll(client))["patient_id"]
        before = await app.state.runtime.store.read_all()
        assert (await client.get(f"/v1/patients/{pid}", headers=other_clinic)).status_code == 404
        resp = await client.post(f"/v1/patients/{pid}/assessments", headers=other_clinic, json={
            "instrument": "PAIN-NRS", "item_scores": [5], "administered_at": "2026-11-01T10:00:00Z"})
        assert resp.status_code == 404
        unknown = await client.get("/v1/patients/00000000-0000-0000-0000-000000000000", headers=COORD)
        assert unknown.status_code == 404 and unknown.json() == resp.json()  # indistinguishable
        assert (await client.get(f"/v1/patients/{pid}")).status_code == 401
        assert (await client.get(f"/v1/patients/{pid}", headers={"Authorization": "Bearer junk"})).status_code == 401
        assert (await client.get(f"/v1/patients/{pid}", headers=token("dashboard"))).status_code == 403
        resp = await client.post("/v1/patients", headers=other_clinic, json={
            "clinic_id": "clinic-a", "display_name": "X", "birth_date": "1990-01-01"})
        assert resp.status_code == 403
        assert len(await app.state.runtime.store.read_all()) == len(before)
        log = await app.state.runtime.pool.fetch("SELECT staff_id, action, status FROM access_log ORDER BY id")
        assert [(r["action"], r["status"]) for r in log] == [  # refused reads read nothing, but are recorded
            ("refused request", s) for s in (404, 404, 404, 401, 401, 403)]


async def test_validation_errors_name_the_field_and_lose_nothing(settings) -> None:  # type: ignore[no-untyped-def]
    async with running(create_app, settings) as (app, client):
        pid = (await _enroll(client))["patient_id"]
        url = f"/v1/patients/{pid}/assessments"
        cases = [
            ({"instrument": "PHQ-9", "item_scores": [1] * 8, "administered_at": "2026-11-01T10:00:00Z"},
             ["body", "item_scores"]),
            ({"instrument": "GAD-7", "item_scores": [1, 1, 1, 4, 1, 1, 1], "administered_at": "2026-11-01T10:00:00Z"},
             ["body", "item_scores[3]"]),
            ({"instrument": "PHQ-15", "item_scores": [1] * 14 + [1.5], "administered_at": "2026-11-01T10:00:00Z"},
             ["body", "item_scores[14]"]),
            ({"instrument": "BDI-II", "item_scores": [1], "administered_at": "2026-11-01T10:00:00Z"},
             ["body", "instrument"]),
            ({"instrument": "ISI", "item_scores": [1] * 7, "administered_at": "2026-11-01T10:00:00Z", "total": 9},
             ["body", "total"]),
            ({"instrument": "WSAS", "item_scores": [1] * 5, "administered_at": "2026-11-01T10:00:00"},
             ["body", "administered_at"]),
        ]
        for body, loc in cases:
            resp = await client.post(url, json=body, headers=ASSESSOR)
            assert resp.status_code == 422, body
            assert resp.json()["detail"][0]["loc"] == loc, resp.text
        resp = await client.post(url, json=cases[1][0], headers=ASSESSOR)
        assert "between 0 and 3" in resp.json()["detail"][0]["msg"]
        bad_life = await client.post(f"/v1/patients/{pid}/life-events", headers=ASSESSOR, json={
            "category": "weather", "direction": "worsened", "impact": "high", "occurred_at": "2026-11-01T00:00:00Z"})
        assert bad_life.status_code == 422 and bad_life.json()["detail"][0]["loc"] == ["body", "category"]
        bad_enroll = await client.post("/v1/patients", headers=COORD, json={
            "clinic_id": "clinic-a", "display_name": NAME, "birth_date": "2999-01-01"})
        assert bad_enroll.status_code == 422 and NAME not in bad_enroll.text
        assert len(await app.state.runtime.store.read_all()) == 1  # only the enrollment


async def test_idempotency_key_returns_first_result_and_appends_nothing(settings) -> None:  # type: ignore[no-untyped-def]
    async with running(create_app, settings) as (app, client):
        pid = (await _enroll(client))["patient_id"]
        body = {"instrument": "PAIN-NRS", "item_scores": [6], "administered_at": "2026-11-01T10:00:00Z"}
        headers = {**ASSESSOR, "Idempotency-Key": "retry-42"}
        first = await client.post(f"/v1/patients/{pid}/assessments", json=body, headers=headers)
        second = await client.post(f"/v1/patients/{pid}/assessments", json=body, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json() and first.json()["band"] == "moderate"
        changed = await client.post(f"/v1/patients/{pid}/assessments", json={**body, "item_scores": [7]},
                                    headers=headers)
        assert changed.status_code == 422
        assert await app.state.runtime.store.stream_version(f"patient-{pid}") == 2


async def test_preferences_update_is_an_event_and_unchanged_is_not(settings, kafka_bootstrap) -> None:  # type: ignore[no-untyped-def]
    async with running(create_app, settings) as (_, client):
        pid = (await _enroll(client))["patient_id"]
        new = {"language": "en", "prefers_non_pharmacological_first": False}
        first = await client.put(f"/v1/patients/{pid}/preferences", json=new, headers=ASSESSOR)
        assert first.status_code == 200, first.text
        assert first.json() == {"patient_id": pid, "preferences": new, "version": 2, "changed": True}
        again = await client.put(f"/v1/patients/{pid}/preferences", json=new, headers=ASSESSOR)
        assert again.json()["changed"] is False and again.json()["version"] == 2
        records = await read_topic(kafka_bootstrap, settings.topic(), at_least=2)
    names = [ce.decode(r.value, r.headers).event_name for r in records]
    assert names == ["PatientEnrolled", "PatientPreferencesUpdated"]
