"""The caseload and the quality measures through the real services: a cohort with known process
timings gives every numerator and denominator exactly, now and as of a moment before part of it
was recorded; the same numbers as FHIR MeasureReports; the caseload's rows, pages and CSV;
clinic scoping, roles, bad input and the access log."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.measurereport import MeasureReport
from registry_cohort import EXPECTED_BEFORE, EXPECTED_NOW, MEDIAN_NOW, T0, Patient, write_after, write_before

from services.coordination.registry.api import measures_result
from services.coordination.registry.measures import Month
from services.coordination.registry.reports import measure_reports
from tests.integration.coordination.coordination_support import Stack, clinical_stack, wait_for_entries
from tests.support.services import token

AUDITOR = token("auditor", clinics=("clinic-a",))
COORDINATOR = token("coordinator", clinics=("clinic-a",))


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace, with_therapy=True) as s:
        yield s


async def settled(stack: Stack, patients: dict[str, Patient]) -> None:
    await wait_for_entries(stack.pool, {p.patient_id: p.entries for p in patients.values()}, timeout=60)


async def get_measures(stack: Stack, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    resp = await stack.coordination.get("/v1/measures", headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def cells(body: dict[str, Any], clinic: str, month: str) -> dict[str, dict[str, Any]]:
    [c] = [c for c in body["clinics"] if c["clinic_id"] == clinic]
    [m] = [m for m in c["months"] if m["month"] == month]
    return {cell["measure_id"]: cell for cell in m["measures"]}


def check(found: dict[str, dict[str, Any]], expected: dict[str, tuple[set[str], set[str]]],
          patients: dict[str, Patient]) -> None:
    name = {p.patient_id: n for n, p in patients.items()}
    for measure_id, (numerator, denominator) in expected.items():
        cell = found[measure_id]
        got = ({name[i] for i in cell["patients"]["numerator"]}, {name[i] for i in cell["patients"]["denominator"]})
        assert got == (numerator, denominator), measure_id
        assert (cell["numerator"], cell["denominator"]) == (len(numerator), len(denominator)), measure_id
        assert cell["rate"] == round(len(numerator) / len(denominator), 4), measure_id


async def test_a_cohort_gives_every_measure_exactly_now_and_as_of_before_part_was_recorded(stack: Stack) -> None:
    patients = await write_before(stack)
    await settled(stack, patients)
    await asyncio.sleep(0.05)
    before = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await write_after(patients)
    await settled(stack, patients)
    month, now_month = str(Month.of(T0)), str(Month.of(datetime.now(UTC)))

    now = await get_measures(stack, AUDITOR, **{"from": month, "to": now_month, "include": "patients"})
    check(cells(now, "clinic-a", month), EXPECTED_NOW, patients)
    assert cells(now, "clinic-a", month)["nonresponse_to_escalation_days"]["median_days"] == MEDIAN_NOW
    assert [c["clinic_id"] for c in now["clinics"]] == ["clinic-a"]  # the auditor's clinic only
    current = cells(now, "clinic-a", now_month)["polypharmacy"]  # still five drugs this month
    assert (current["numerator"], current["denominator"]) == (1, 5)
    assert {d["measure_id"]: d["version"] for d in now["definitions"]}["follow_up_4w"] == 1

    then = await get_measures(stack, AUDITOR, **{"from": month, "to": month, "include": "patients",
                                                 "as_of": before.isoformat()})
    check(cells(then, "clinic-a", month), EXPECTED_BEFORE, patients)
    assert cells(then, "clinic-a", month)["nonresponse_to_escalation_days"]["median_days"] is None

    counts = await get_measures(stack, COORDINATOR, **{"from": month, "to": month})
    assert "patients" not in cells(counts, "clinic-a", month)["follow_up_4w"]
    other = await get_measures(stack, token("coordinator", clinics=("clinic-b",)), **{"from": month, "to": month})
    assert (cells(other, "clinic-b", month)["follow_up_4w"]["numerator"],
            cells(other, "clinic-b", month)["follow_up_4w"]["denominator"]) == (1, 1)

    # the FHIR view of the same numbers, from the same reads
    result = await measures_result(stack.app.state.context, ["clinic-a"], before, Month.of(T0), Month.of(T0))
    reports = {r["group"][0]["code"]["coding"][0]["code"]: r for r in measure_reports(result)}
    for measure_id, (numerator, denominator) in EXPECTED_BEFORE.items():
        MeasureReport.model_validate(reports[measure_id])
        group = reports[measure_id]["group"][0]
        populations = {p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]}
        assert (populations["numerator"], populations["denominator"]) == (len(numerator), len(denominator))

    logged = {r["patient_id"] for r in await stack.pool.fetch(
        "SELECT patient_id FROM access_log WHERE action LIKE 'read quality measures%'")}
    assert logged == {p.patient_id for n, p in patients.items() if n != "other_clinic"}

    await check_caseload(stack, patients)


async def check_caseload(stack: Stack, patients: dict[str, Patient]) -> None:
    headers = patients["prompt"].headers
    resp = await stack.coordination.get("/v1/caseload", headers=headers, params={"sort": "phq9_latest"})
    assert resp.status_code == 200, resp.text
    rows = {r["patient_id"]: r for r in resp.json()["patients"]}
    name = {p.patient_id: n for n, p in patients.items()}
    assert {name[i] for i in rows} == {"prompt", "late", "improved", "mild", "poly"}
    assert [name[r["patient_id"]] for r in resp.json()["patients"]][:1] == ["poly"]  # PHQ-9 12, the highest now
    poly, prompt = rows[patients["poly"].patient_id], rows[patients["prompt"].patient_id]
    assert poly["weeks_in_treatment"] == (datetime.now(UTC).date() - T0.date()).days // 7
    assert poly["case_review_due"] is True and prompt["case_review_due"] is False
    assert prompt["phq9"]["baseline"]["total"] == 16 and prompt["phq9"]["latest"]["total"] == 3
    assert prompt["phq9"]["change_percent"] == -81.2
    assert datetime.fromisoformat(prompt["last_contact_at"]) == T0 + timedelta(days=168)
    assert poly["open_flags"]["warning"] >= 1  # polypharmacy (and stalled progress)
    assert rows[patients["late"].patient_id]["care_manager"] == "staff-2"

    mine = await stack.coordination.get("/v1/caseload", headers=headers, params={"care_manager": "staff-2"})
    assert [r["patient_id"] for r in mine.json()["patients"]] == [patients["late"].patient_id]

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "sort": "days_since_contact"}
    while True:
        page = await stack.coordination.get("/v1/caseload", headers=headers, params=params)
        seen += [r["patient_id"] for r in page.json()["patients"]]
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert sorted(seen) == sorted(rows) and len(seen) == 5

    sheet = await stack.coordination.get("/v1/caseload", headers=headers | {"Accept": "text/csv"})
    assert sheet.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(sheet.text)))
    assert {r["patient_id"] for r in table} == set(rows)
    assert {r["phq9_latest"] for r in table if r["patient_id"] == patients["poly"].patient_id} == {"12"}

    other = await stack.coordination.get("/v1/caseload", headers=headers, params={"clinic": "clinic-b"})
    assert other.json()["patients"] == []
    assert (await stack.coordination.get("/v1/caseload", headers=AUDITOR)).status_code == 403
    logged = await stack.pool.fetch("SELECT DISTINCT patient_id FROM access_log WHERE action = 'read caseload'")
    assert {r["patient_id"] for r in logged} == set(rows)


async def test_bad_input_is_refused_naming_the_field(stack: Stack) -> None:
    async def status(params: dict[str, str], headers: dict[str, str] = AUDITOR, path: str = "/v1/measures"
                     ) -> tuple[int, Any]:
        resp = await stack.coordination.get(path, headers=headers, params=params)
        return resp.status_code, resp.json()

    for params, field in (({"from": "2026-13"}, "from"), ({"to": "soon"}, "to"),
                          ({"from": "2026-05", "to": "2026-01"}, "from"), ({"include": "names"}, "include"),
                          ({"as_of": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "as_of")):
        code, body = await status(params)
        assert code == 422 and body["detail"][0]["loc"] == ["query", field], (params, body)
    code, body = await status({"sort": "name"}, COORDINATOR, "/v1/caseload")
    assert code == 422 and body["detail"][0]["loc"] == ["query", "sort"]
    code, body = await status({"cursor": "xyz"}, COORDINATOR, "/v1/caseload")
    assert code == 422 and body["detail"][0]["loc"] == ["query", "cursor"]
    assert (await status({}, token("therapist", clinics=("clinic-a",))))[0] == 403
    assert (await status({}, {}))[0] == 401
