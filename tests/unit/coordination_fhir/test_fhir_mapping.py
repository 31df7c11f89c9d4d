"""The FHIR mapping on a hand-built record: every resource parses with the R4B models, codings
use the right systems, references resolve inside the Bundle, ids stay the same however the
events arrive, and nothing but codes leaves."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from services.coordination.fhir.bundle import RESOURCE_TYPES, bundle, patient_resources
from services.coordination.fhir.record import record_of
from tests.unit.coordination.builders import PATIENT

from .fhir_checks import ATC, LOINC, RXNORM, UCUM, check_code_systems, counts, unresolved, validated
from .record_builders import FREE_TEXT, Cohort, day, full_chart, stored_flag

BASE = "https://coordination.example/v1/fhir"


@pytest.fixture
def cohort() -> Cohort:
    return full_chart()


def made(cohort: Cohort, shuffle: int | None = None) -> dict[str, Any]:
    sources = list(cohort.chart.sources)
    if shuffle is not None:
        random.Random(shuffle).shuffle(sources)
    return bundle(record_of(PATIENT, "clinic-a", sources, cohort.flags), BASE)


def resources(b: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in b["entry"]]


def of_type(b: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources(b) if r["resourceType"] == kind]


def test_every_resource_and_the_bundle_parse_with_the_r4b_models(cohort: Cohort) -> None:
    b = made(cohort)
    Bundle.model_validate(b)
    assert len(validated(resources(b))) == len(b["entry"])
    assert b["type"] == "collection"
    assert {r["resourceType"] for r in resources(b)} == set(RESOURCE_TYPES)


def test_one_resource_per_source_and_a_provenance_for_each(cohort: Cohort) -> None:
    n = counts(resources(made(cohort)))
    assert n == {"Patient": 1, "Organization": 1, "MedicationStatement": 3, "AdverseEvent": 2, "Observation": 4,
                 "EpisodeOfCare": 1, "Appointment": 5, "Encounter": 1, "CarePlan": 3, "Flag": 3,
                 "DetectedIssue": 2, "Provenance": 25}
    assert n["Provenance"] == sum(v for k, v in n.items() if k not in ("Organization", "Provenance"))


def test_references_resolve_inside_the_bundle_and_full_urls_name_each_entry(cohort: Cohort) -> None:
    b = made(cohort)
    assert unresolved(resources(b)) == set()
    assert all(e["fullUrl"] == f"{BASE}/{e['resource']['resourceType']}/{e['resource']['id']}" for e in b["entry"])
    assert len({e["fullUrl"] for e in b["entry"]}) == len(b["entry"])


def test_ids_and_content_do_not_depend_on_the_order_events_are_read_in(cohort: Cohort) -> None:
    assert made(cohort) == made(cohort, shuffle=1) == made(cohort, shuffle=2)


def test_codings_use_loinc_rxnorm_atc_and_ucum(cohort: Cohort) -> None:
    b = made(cohort)
    check_code_systems(resources(b))
    codes = {o["code"]["text"]: o["code"]["coding"][0] for o in of_type(b, "Observation")}
    assert (codes["PHQ-9 total score"]["system"], codes["PHQ-9 total score"]["code"]) == (LOINC, "44261-6")
    assert codes["GAD-7 total score"]["code"] == "70274-6" and codes["PHQ-15 total score"]["code"] == "70273-8"
    assert codes["ISI total score"]["system"].startswith("urn:carecoord:") and codes["ISI total score"]["code"] == "ISI"
    drugs = {m["medicationCodeableConcept"]["text"]: m["medicationCodeableConcept"]["coding"]
             for m in of_type(b, "MedicationStatement")}
    assert drugs["sertraline"] == [{"system": RXNORM, "code": "36437", "display": "sertraline"},
                                   {"system": ATC, "code": "N06AB06"}]
    assert drugs["diazepam"] == [{"system": ATC, "code": "N05BA01", "display": "diazepam"}]


def test_a_course_with_its_dose_steps_status_and_coded_indication(cohort: Cohort) -> None:
    by_drug = {m["medicationCodeableConcept"]["text"]: m for m in of_type(made(cohort), "MedicationStatement")}
    sert, oxy = by_drug["sertraline"], by_drug["oxycodone"]
    assert sert["status"] == "stopped" and oxy["status"] == "active"
    assert set(sert["effectivePeriod"]) == {"start", "end"} and set(oxy["effectivePeriod"]) == {"start"}
    steps = sert["dosage"]
    assert [d["doseAndRate"][0]["doseQuantity"] for d in steps] == [
        {"value": 50, "unit": "mg", "system": UCUM, "code": "mg"}, {"value": 100, "unit": "mg", "system": UCUM,
                                                                     "code": "mg"}]
    assert steps[0]["timing"]["repeat"]["boundsPeriod"]["end"] == steps[1]["timing"]["repeat"]["boundsPeriod"]["start"]
    assert steps[1]["timing"]["repeat"]["boundsPeriod"]["end"] == sert["effectivePeriod"]["end"]
    assert steps[0]["timing"]["repeat"] | {"boundsPeriod": None} == {"frequency": 2, "period": 1, "periodUnit": "d",
                                                                       "boundsPeriod": None}
    assert oxy["reasonCode"] == [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "M54.5"}]}]
    assert oxy["dosage"][0]["asNeededBoolean"] is True
    assert "reasonCode" not in sert  # started without an indication
    assert sert["statusReason"][0]["coding"][0]["code"] == "adverse_effect" and "statusReason" not in oxy


def test_adverse_events_point_at_their_course(cohort: Cohort) -> None:
    b = made(cohort)
    statements = {m["id"]: m["medicationCodeableConcept"]["text"] for m in of_type(b, "MedicationStatement")}
    seen = {(statements[a["suspectEntity"][0]["instance"]["reference"].split("/")[1]],
             a["severity"]["coding"][0]["code"], a["event"]["coding"][0]["code"]) for a in of_type(b, "AdverseEvent")}
    assert seen == {("sertraline", "moderate", "nausea"), ("diazepam", "mild", "somnolence")}


def test_observations_carry_total_band_and_items(cohort: Cohort) -> None:
    phq9 = next(o for o in of_type(made(cohort), "Observation") if o["code"]["text"] == "PHQ-9 total score")
    assert phq9["valueInteger"] == 16
    assert phq9["interpretation"][0]["coding"][0]["code"] == "moderately_severe"
    assert [c["valueInteger"] for c in phq9["component"]] == [2, 2, 2, 2, 2, 2, 2, 2, 0]
    assert phq9["effectiveDateTime"].startswith("2026-03-03")


def test_sessions_of_every_outcome_and_the_care_steps(cohort: Cohort) -> None:
    b = made(cohort)
    appointments = sorted(of_type(b, "Appointment"), key=lambda a: a["start"])
    assert [a["status"] for a in appointments] == ["fulfilled", "noshow", "cancelled", "cancelled", "booked"]
    assert [a.get("cancelationReason", {}).get("coding", [{}])[0].get("code") for a in appointments] == [
        None, None, "pat", "prov", None]
    (encounter,) = of_type(b, "Encounter")
    assert encounter["status"] == "finished" and encounter["length"]["value"] == 50
    assert encounter["class"]["code"] == "VR"  # a remote episode
    assert encounter["appointment"] == [{"reference": f"Appointment/{appointments[0]['id']}"}]
    (episode,) = of_type(b, "EpisodeOfCare")
    assert episode["status"] == "active" and episode["type"][0]["coding"][0]["code"] == "behavioral_activation"
    plans = sorted(of_type(b, "CarePlan"), key=lambda p: p["period"]["start"])
    assert [(p["category"][0]["coding"][0]["code"], p["status"]) for p in plans] == [
        ("1", "completed"), ("2", "completed"), ("3", "active")]
    assert plans[2]["replaces"] == [{"reference": f"CarePlan/{plans[1]['id']}"}] and "replaces" not in plans[0]
    assert plans[0]["period"]["end"] == plans[1]["period"]["start"]


def test_flags_and_detected_issues(cohort: Cohort) -> None:
    b = made(cohort)
    flags = {f["code"]["coding"][0]["code"]: f for f in of_type(b, "Flag")}
    assert {k: f["status"] for k, f in flags.items()} == {
        "dangerous_combination": "active", "safety": "inactive", "polypharmacy": "entered-in-error"}
    assert set(flags["safety"]["period"]) == {"start", "end"} and flags["safety"]["category"][0]["coding"][0][
        "code"] == "safety"
    issues = {i["code"]["coding"][0]["code"]: i for i in of_type(b, "DetectedIssue")}
    statements = {m["medicationCodeableConcept"]["text"]: m["id"] for m in of_type(b, "MedicationStatement")}
    drg = issues["DRG"]
    assert drg["severity"] == "high" and drg["detail"] == "dangerous_combination explained"
    assert drg["implicated"] == [{"reference": f"MedicationStatement/{statements[d]}"} for d in ("oxycodone",
                                                                                                 "diazepam")]
    assert len(issues["POLY"]["implicated"]) == 3 and issues["POLY"]["status"] == "cancelled"


def test_provenance_names_the_source_events_when_recorded_and_who(cohort: Cohort) -> None:
    b = made(cohort)
    by_target = {p["target"][0]["reference"]: p for p in of_type(b, "Provenance")}
    sources = {s.event_id: s for s in cohort.chart.sources}
    for r in resources(b):
        if r["resourceType"] in ("Organization", "Provenance"):
            continue
        assert f"{r['resourceType']}/{r['id']}" in by_target, r["resourceType"]
    statement = next(m for m in of_type(b, "MedicationStatement") if m["status"] == "stopped")
    p = by_target[f"MedicationStatement/{statement['id']}"]
    ids = [e["what"]["identifier"]["value"].removeprefix("urn:uuid:") for e in p["entity"]]
    assert [sources[i].fact.event_name for i in ids] == ["MedicationStarted", "DoseAdjusted",
                                                         "MedicationDiscontinued"]
    assert p["recorded"] == max(sources[i].fact.recorded_at for i in ids).isoformat()
    assert p["agent"] == [{"type": p["agent"][0]["type"],
                           "who": {"identifier": {"system": "urn:carecoord:staff", "value": "staff-1"}}}]
    safety = next(f for f in of_type(b, "Flag") if f["code"]["coding"][0]["code"] == "safety")
    agents = by_target[f"Flag/{safety['id']}"]["agent"]
    assert [a["type"]["coding"][0]["code"] for a in agents] == ["author", "assembler", "verifier"]
    assert agents[2]["who"]["identifier"]["value"] == "staff-9"


def test_the_patient_is_pseudonymous_and_no_free_text_leaves(cohort: Cohort) -> None:
    b = made(cohort)
    (patient,) = of_type(b, "Patient")
    assert patient["id"] == PATIENT and set(patient) == {"resourceType", "id", "meta", "active",
                                                         "managingOrganization"}
    (org,) = of_type(b, "Organization")
    assert patient["managingOrganization"] == {"reference": f"Organization/{org['id']}"}
    text = json.dumps(b)
    assert not [t for t in FREE_TEXT if t in text]


def test_a_v1_course_is_exported_with_codes_only(cohort: Cohort) -> None:
    """v1 events carried free text; upcast, they export ``other`` and no words at all."""
    cohort.chart.legacy_course("legacy", day(40))
    b = made(cohort)
    text = json.dumps(b)
    assert not [t for t in FREE_TEXT if t in text]
    legacy = next(m for m in of_type(b, "MedicationStatement") if m["medicationCodeableConcept"]["text"]
                  == "RxNorm 4493")
    assert legacy["medicationCodeableConcept"]["coding"][0] == {"system": RXNORM, "code": "4493"}
    assert "reasonCode" not in legacy and legacy["statusReason"][0]["coding"][0]["code"] == "other"
    events = [a["event"]["coding"][0] for a in of_type(b, "AdverseEvent")]
    assert {"system": "urn:carecoord:fhir:CodeSystem:adverse-effect", "code": "other",
            "display": "Other adverse effect"} in events


def test_events_of_a_course_that_never_started_here_are_left_out(cohort: Cohort) -> None:
    c = cohort.chart
    c.effect("unknown-course", "severe", c.sources[-1].fact.occurred_at)
    c.therapy("SessionMissed", c.sources[-1].fact.occurred_at, episode="e-unknown", session_id="x")
    evidence = [c.sources[-1]]
    cohort.flags.append(stored_flag("disengagement", evidence, c.sources[-1].fact.occurred_at))
    b = made(cohort)
    assert counts(resources(b))["AdverseEvent"] == 2 and counts(resources(b))["Appointment"] == 5
    assert unresolved(resources(b)) == set()
    validated(resources(b))


def test_patient_resources_leave_the_organization_to_the_caller(cohort: Cohort) -> None:
    out = patient_resources(record_of(PATIENT, "clinic-a", cohort.chart.sources, cohort.flags))
    assert "Organization" not in counts(out)
