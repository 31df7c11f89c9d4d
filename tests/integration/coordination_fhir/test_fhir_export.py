"""FHIR end to end on the real services: a patient's care written through the HTTP APIs of
assessment, pharmacy, therapy and coordination comes back as an R4 Bundle whose every resource
parses with the R4B models, one resource per command sent; a Bulk Data export of the clinic gives
the same resources; another clinic's patient is a 404 like a missing one, and an export lists
only the caller's clinics, every read in the access log."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from coordination_chart import Chart
from coordination_support import Stack, clinical_stack, enroll, wait_for_entries
from fhir_export_support import AUDITOR, bulk_export

from tests.support.services import token, wait_until
from tests.unit.coordination_fhir.fhir_checks import check_code_systems, counts, unresolved, validated

OXYCODONE = {"code": "7804", "system": "RxNorm", "name": "oxycodone"}
DIAZEPAM = {"code": "3322", "system": "RxNorm", "name": "diazepam"}
SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}
_ = ""


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace, with_therapy=True) as s:
        yield s


async def write_chart(stack: Stack, clinic: str = "clinic-a") -> Chart:
    """Three instruments (a PHQ-9 with item 9 > 0), three courses (an opioid with a benzodiazepine;
    sertraline raised, with an adverse effect, then stopped), an episode with a session of each
    outcome, a modality and a care-step change."""
    t0 = (datetime.now(UTC) - timedelta(days=60)).replace(hour=9, minute=0, second=0, microsecond=0)
    c = Chart(stack, await enroll(stack.assessment, clinic), t0, clinic=clinic)
    d = c.day
    await c.score("PHQ-9", [2, 2, 2, 2, 2, 2, 2, 1, 1], d(1), _)
    await c.score("GAD-7", [1, 2, 1, 2, 1, 2, 1], d(1), _)
    await c.score("PHQ-15", [1] * 15, d(2), _)
    await c.start(SERTRALINE, 50, 1, d(3, 10), _)
    await c.adjust("sertraline", 100, d(17, 10), _)
    await c.effect("sertraline", "moderate", d(18, 8), _)
    await c.stop("sertraline", d(20, 10), _)
    await c.start(OXYCODONE, 5, 2, d(21, 10), _)
    await c.start(DIAZEPAM, 2, 1, d(22, 10), _)
    await c.episode("cbt", 1, d(4, 14), _)
    s1 = await c.schedule(d(5, 14), _)
    await c.complete(s1, d(5, 14, 50), 50, _)
    await c.no_show(await c.schedule(d(12, 14), _), d(12, 14), _)
    await c.cancel(await c.schedule(d(19, 14), _), d(18, 12), "patient", _)
    await c.cancel(await c.schedule(d(26, 14), _), d(25, 12), "clinic", _)
    await c.schedule(d(33, 14), _)
    await c.change_modality("behavioral_activation", "non_response", d(27), _)
    await c.step(2, "non_response", d(28), _)
    return c


def of_type(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == kind]


async def test_a_patients_bundle_a_clinics_bulk_export_and_their_scoping(stack: Stack) -> None:
    chart = await write_chart(stack)
    other = await write_chart(stack, clinic="clinic-b")
    await wait_for_entries(stack.pool, {chart.patient_id: len(chart.expected) + 1,
                                        other.patient_id: len(other.expected) + 1}, timeout=60)
    flags = (await stack.coordination.get(f"/v1/patients/{chart.patient_id}/flags", headers=chart.headers)).json()
    assert {"safety", "dangerous_combination"} <= {f["rule_id"] for f in flags}

    resp = await stack.coordination.get(f"/v1/patients/{chart.patient_id}/fhir", headers=chart.headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/fhir+json")
    bundle = resp.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    resources = validated(e["resource"] for e in bundle["entry"])
    check_code_systems(resources)
    assert unresolved(resources) == set()
    sent = {t: sum(1 for e in chart.expected if e.type == t) for t in {e.type for e in chart.expected}}
    n = counts(resources)
    issues = [f for f in flags if f["rule_id"] in ("polypharmacy", "dangerous_combination")]
    assert n == {
        "Patient": 1, "Organization": 1, "MedicationStatement": sent["MedicationStarted"],
        "AdverseEvent": sent["AdverseEffectReported"], "Observation": sent["AssessmentRecorded"],
        "EpisodeOfCare": sent["TherapyEpisodeStarted"], "Appointment": sent["SessionScheduled"],
        "Encounter": sent["SessionCompleted"], "CarePlan": sent["TherapyEpisodeStarted"] + sent["CareStepChanged"],
        "Flag": len(flags), "DetectedIssue": len(issues),
        "Provenance": len(resources) - n["Provenance"] - n["Organization"]}
    assert sorted(a["status"] for a in of_type(resources, "Appointment")) == [
        "booked", "cancelled", "cancelled", "fulfilled", "noshow"]
    assert {m["status"] for m in of_type(resources, "MedicationStatement")} == {"active", "stopped"}
    (issue,) = [i for i in of_type(resources, "DetectedIssue") if i["code"]["coding"][0]["code"] == "DRG"]
    drugs = {m["id"]: m["medicationCodeableConcept"]["text"] for m in of_type(resources, "MedicationStatement")}
    assert {drugs[r["reference"].split("/")[1]] for r in issue["implicated"]} == {"oxycodone", "diazepam"}
    # the notes beside the codes (pharmacy's own) never leave: only the codes do
    assert "Erika" not in resp.text and "Müller" not in resp.text and "every morning" not in resp.text
    assert "no longer needed" not in resp.text and "little change" not in resp.text
    again = await stack.coordination.get(f"/v1/patients/{chart.patient_id}/fhir", headers=chart.headers)
    assert again.json() == bundle  # ids and content stable across calls

    # another clinic's patient answers exactly like one that does not exist
    foreign = await stack.coordination.get(f"/v1/patients/{other.patient_id}/fhir", headers=chart.headers)
    missing = await stack.coordination.get(f"/v1/patients/{uuid.uuid4()}/fhir", headers=chart.headers)
    assert (foreign.status_code, foreign.json()) == (missing.status_code, missing.json()) == (
        404, {"detail": "patient not found"})

    manifest, files = await bulk_export(stack, "?clinic=clinic-a,clinic-b")
    exported = validated(r for rs in files.values() for r in rs)
    assert {o["type"] for o in manifest["output"]} == set(files)
    assert all(o["count"] == len(files[o["type"]]) for o in manifest["output"])
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    by_key = {(r["resourceType"], r["id"]): r for r in exported}
    assert len(by_key) == len(exported)
    assert all(by_key.get((r["resourceType"], r["id"])) == r for r in resources), "the bulk export differs"
    assert [p["id"] for p in files["Patient"]] == [chart.patient_id]  # clinic-b is not the auditor's
    assert [o["identifier"][0]["value"] for o in files["Organization"]] == ["clinic-a"]
    assert {r["reporter"]["identifier"]["value"] for r in files["MeasureReport"]} == {"clinic-a"}
    assert unresolved(exported) == set()
    await check_access_log(stack, chart.patient_id, manifest)

    only, _ = await bulk_export(stack, f"?_type=Observation,Flag&_since={bundle['timestamp']}"
                                         .replace("+", "%2B"))
    assert only["output"] == []  # nothing recorded after the last change
    _, only_files = await bulk_export(stack, "?_type=Observation")
    assert set(only_files) == {"Observation"} and len(only_files["Observation"]) == n["Observation"]


async def check_access_log(stack: Stack, patient_id: str, manifest: dict[str, Any]) -> None:
    job = manifest["output"][0]["url"].split("/export-jobs/")[1].split("/")[0]
    rows = await stack.pool.fetch("SELECT staff_id, clinic_id, action FROM access_log WHERE patient_id = $1 "
                                  "AND action LIKE '%FHIR%' || $2 || '%'", patient_id, job)
    actions = {r["action"] for r in rows}
    assert f"FHIR bulk export {job}" in actions
    assert f"download FHIR export {job} Patient" in actions
    assert {(r["staff_id"], r["clinic_id"]) for r in rows} == {("auditor-1", "clinic-a")}


async def test_only_auditors_and_coordinators_export(stack: Stack) -> None:
    for roles, expected in ((("prescriber", "therapist", "assessor"), 403), (("coordinator",), 202),
                            (("auditor",), 202)):
        resp = await stack.coordination.get("/v1/fhir/$export", headers=token(*roles))
        assert resp.status_code == expected, roles
    bad = await stack.coordination.get("/v1/fhir/$export?_type=Patient,Medication", headers=AUDITOR)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "_type"]
    bad = await stack.coordination.get("/v1/fhir/$export?_since=yesterday", headers=AUDITOR)
    assert bad.status_code == 422 and "_since" in bad.json()["detail"][0]["loc"]


async def test_a_job_whose_worker_died_is_taken_again_and_completes(stack: Stack) -> None:
    """A job left running by a worker that stopped (its lease lapsed) is claimed again: jobs live
    in PostgreSQL, not in a process."""
    chart = await write_chart(stack)
    await wait_for_entries(stack.pool, {chart.patient_id: len(chart.expected) + 1}, timeout=60)
    job_id = uuid.uuid4()
    await stack.pool.execute(
        "INSERT INTO fhir_export_jobs (job_id, staff_id, roles, caller_clinics, clinics, types, request_url, status, "
        "transaction_time, lease_until, patients_total, patients_done) VALUES ($1, 'auditor-1', '{auditor}', "
        "'{clinic-a}', '{clinic-a}', '{Patient}', 'http://test/v1/fhir/$export?_type=Patient', 'running', "
        "now() - interval '5 minutes', now() - interval '1 minute', 1, 0)", job_id)
    await stack.pool.execute(  # what the dead worker had written: deleted when the job starts over
        "INSERT INTO fhir_export_files VALUES ($1, 'Patient', 0, 1, '{}' || chr(10), '{p}', '{clinic-a}')", job_id)

    async def completed() -> Any:
        resp = await stack.coordination.get(f"/v1/fhir/export-jobs/{job_id}", headers=AUDITOR)
        return resp.json() if resp.status_code == 200 else None

    manifest = await wait_until(completed, timeout=30)
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [("Patient", 1)]
    resp = await stack.coordination.get(manifest["output"][0]["url"], headers=AUDITOR)
    assert [json.loads(line)["id"] for line in resp.text.splitlines()] == [chart.patient_id]
    assert (await stack.coordination.get(f"/v1/fhir/export-jobs/{job_id}/Patient.json", headers=AUDITOR)
            ).status_code == 404
    assert (await stack.coordination.delete(f"/v1/fhir/export-jobs/{job_id}", headers=AUDITOR)).status_code == 202
    assert (await stack.coordination.get(f"/v1/fhir/export-jobs/{job_id}", headers=AUDITOR)).status_code == 404
    # an id that is no job id answers like a job that does not exist (not a 422 telling them apart)
    for path in ("", "/Patient.ndjson"):
        gone = await stack.coordination.get(f"/v1/fhir/export-jobs/{job_id}{path}", headers=AUDITOR)
        garbled = await stack.coordination.get(f"/v1/fhir/export-jobs/not-a-job{path}", headers=AUDITOR)
        assert (garbled.status_code, garbled.json()) == (gone.status_code, gone.json()) == (
            404, {"detail": "export job not found"})
