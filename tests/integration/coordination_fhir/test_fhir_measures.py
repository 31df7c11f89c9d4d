"""The quality measures as FHIR MeasureReports on the real services: the registry's cohort
(known process timings, written through the HTTP APIs) gives, in GET /v1/fhir/MeasureReport, the
same numerators, denominators, rates and medians as GET /v1/measures for the same query, now and
as of a moment before part of it was recorded; the Bundle validates with the R4B models and its
references resolve; another clinic's numbers never appear; the same readers and 422s; a bulk
export carries the same reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir_export_support import AUDITOR, bulk_export

from services.coordination.registry.measures import Month
from tests.integration.coordination.coordination_support import Stack, clinical_stack, wait_for_entries
from tests.integration.coordination_registry.registry_cohort import (
    EXPECTED_BEFORE,
    EXPECTED_NOW,
    MEDIAN_NOW,
    T0,
    Patient,
    write_after,
    write_before,
)
from tests.support.services import token
from tests.unit.coordination_fhir.fhir_checks import unresolved, validated

CLINIC_B = token("coordinator", clinics=("clinic-b",))
FHIR_JSON = "application/fhir+json"
MEDIAN = "nonresponse_to_escalation_days"

Numbers = dict[tuple[str, str, str], tuple[int, int, float | None]]
"""(clinic, month, measure) → numerator, denominator and the score (rate, or median days)."""


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace, with_therapy=True) as s:
        yield s


async def settled(stack: Stack, patients: dict[str, Patient]) -> None:
    await wait_for_entries(stack.pool, {p.patient_id: p.entries for p in patients.values()}, timeout=60)


async def get(stack: Stack, path: str, headers: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
    resp = await stack.coordination.get(path, headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    if path.startswith("/v1/fhir/"):
        assert resp.headers["content-type"].startswith(FHIR_JSON)
    return resp.json()  # type: ignore[no-any-return]


def from_measures(body: dict[str, Any]) -> Numbers:
    return {(c["clinic_id"], m["month"], cell["measure_id"]): (
                cell["numerator"], cell["denominator"],
                cell["median_days"] if cell["measure_id"] == MEDIAN else cell["rate"])
            for c in body["clinics"] for m in c["months"] for cell in m["measures"]}


def reports_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def from_reports(reports: list[dict[str, Any]]) -> Numbers:
    out: Numbers = {}
    for r in reports:
        (group,) = r["group"]
        counts = {p["code"]["coding"][0]["code"]: p["count"] for p in group["population"]}
        assert counts["initial-population"] == counts["denominator"]
        key = (r["reporter"]["identifier"]["value"], r["period"]["start"][:7], group["code"]["coding"][0]["code"])
        assert key not in out, key
        out[key] = (counts["numerator"], counts["denominator"], group.get("measureScore", {}).get("value"))
    return out


def checked_bundle(bundle: dict[str, Any], clinics: list[str]) -> list[dict[str, Any]]:
    """A valid searchset whose includes are exactly the clinics' Organizations; its reports."""
    Bundle.model_validate(bundle)
    resources = validated(e["resource"] for e in bundle["entry"])
    assert bundle["type"] == "searchset" and unresolved(resources) == set()
    includes = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [o["identifier"][0]["value"] for o in includes] == clinics
    reports = reports_of(bundle)
    assert bundle["total"] == len(reports) and all(r["resourceType"] == "MeasureReport" for r in reports)
    return reports


def expected(numbers: Numbers, month: str, truth: dict[str, tuple[set[str], set[str]]]) -> None:
    for measure_id, (numerator, denominator) in truth.items():
        assert numbers[("clinic-a", month, measure_id)][:2] == (len(numerator), len(denominator)), measure_id


async def test_measure_reports_equal_the_measures_now_and_as_of_before(stack: Stack) -> None:
    patients = await write_before(stack)
    await settled(stack, patients)
    await asyncio.sleep(0.05)
    before = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await write_after(patients)
    await settled(stack, patients)
    month, now_month = str(Month.of(T0)), str(Month.of(datetime.now(UTC)))
    span = (Month.of(datetime.now(UTC)).year - T0.year) * 12 + Month.of(datetime.now(UTC)).month - T0.month + 1

    for params, truth in (({"from": month, "to": now_month}, EXPECTED_NOW),
                          ({"from": month, "to": now_month, "as_of": before.isoformat()}, EXPECTED_BEFORE)):
        measures = from_measures(await get(stack, "/v1/measures", AUDITOR, params))
        bundle = await get(stack, "/v1/fhir/MeasureReport", AUDITOR, params)
        reports = checked_bundle(bundle, ["clinic-a"])
        assert len(reports) == span * 8
        assert from_reports(reports) == measures, params
        expected(measures, month, truth)
        if "as_of" in params:
            assert {datetime.fromisoformat(r["date"]) for r in reports} == {before}
    assert from_reports(reports_of(bundle))[("clinic-a", month, MEDIAN)][2] is None  # none escalated yet then
    now = from_reports(checked_bundle(await get(stack, "/v1/fhir/MeasureReport", AUDITOR,
                                                {"from": month, "to": month}), ["clinic-a"]))
    assert now[("clinic-a", month, MEDIAN)][2] == MEDIAN_NOW

    # another clinic's numbers never appear: its coordinator sees its own only, clinic-a's see nothing of it
    theirs = await get(stack, "/v1/fhir/MeasureReport", CLINIC_B, {"from": month, "to": month})
    assert from_reports(checked_bundle(theirs, ["clinic-b"])) == from_measures(
        await get(stack, "/v1/measures", CLINIC_B, {"from": month, "to": month}))
    assert from_reports(reports_of(theirs))[("clinic-b", month, "follow_up_4w")][:2] == (1, 1)
    asked = await get(stack, "/v1/fhir/MeasureReport", AUDITOR, {"clinic": "clinic-b", "from": month, "to": month})
    assert (asked["total"], asked.get("entry", [])) == (0, [])
    Bundle.model_validate(asked)
    everything = await stack.coordination.get("/v1/fhir/MeasureReport", headers=AUDITOR)
    assert "clinic-b" not in everything.text
    assert not any(p.patient_id in everything.text for p in patients.values())  # a summary names no patient

    # the bulk export's MeasureReports: the default twelve months, the same numbers as the measures
    manifest, files = await bulk_export(stack, "?_type=MeasureReport,Organization")
    assert [o["type"] for o in manifest["output"]] == ["Organization", "MeasureReport"]
    exported = validated(files["MeasureReport"])
    assert unresolved(exported + files["Organization"]) == set() and len(exported) == 12 * 8
    assert from_reports(exported) == from_measures(await get(stack, "/v1/measures", AUDITOR, {}))


async def test_the_same_readers_and_the_same_422s_as_the_measures(stack: Stack) -> None:
    async def answer(path: str, params: dict[str, str], headers: dict[str, str] = AUDITOR) -> tuple[int, Any]:
        resp = await stack.coordination.get(path, headers=headers, params=params)
        return resp.status_code, resp.json()["detail"][0]["loc"] if resp.status_code == 422 else None

    for params in ({"from": "2026-13"}, {"to": "soon"}, {"from": "2026-05", "to": "2026-01"},
                   {"from": "2020-01", "to": "2026-01"}, {"clinic": "x" * 101},
                   {"as_of": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, {"as_of": "yesterday"}):
        fhir, measures = await answer("/v1/fhir/MeasureReport", params), await answer("/v1/measures", params)
        assert fhir == measures and fhir[0] == 422, (params, fhir, measures)
    for headers, status in ((token("therapist", "prescriber", "assessor", clinics=("clinic-a",)), 403), ({}, 401),
                            (token("coordinator", clinics=("clinic-a",)), 200), (AUDITOR, 200)):
        assert (await answer("/v1/fhir/MeasureReport", {}, headers))[0] == status, headers
