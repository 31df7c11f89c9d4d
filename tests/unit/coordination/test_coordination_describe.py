"""The timeline's summary texts: built from codes, numbers and the patient's earlier
events of the same stream; never from free text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.coordination.projection.batch import coded, project
from services.coordination.projection.describe import describe, number
from services.coordination.projection.facts import Fact
from services.coordination.projection.inputs import OtherEvent
from services.coordination.projection.state import PatientSummary, empty
from shared.envelope import UnknownEventType
from tests.unit.coordination.builders import (
    PATIENT,
    assessed,
    day,
    dose_adjusted,
    enrolled,
    escalation,
    fact,
    life_change,
    med_started,
    therapy,
)


def texts(*facts: Fact) -> list[str]:
    rows, _ = project({}, facts)
    return [r.summary for r in rows]


def test_scores_name_the_instrument_band_and_previous_score_in_clinical_order() -> None:
    first = assessed("PHQ-9", 18, "moderately_severe", at=day(0))
    second = assessed("PHQ-9", 14, "moderate", at=day(28))
    gad = assessed("GAD-7", 9, "mild", at=day(28))
    backdated = assessed("PHQ-9", 16, "moderately_severe", at=day(14), safety=True)
    assert texts(first, second, gad, backdated) == [
        "PHQ-9 18 (moderately severe)",
        "PHQ-9 14 (moderate), was 18",
        "GAD-7 9 (mild)",
        # Arrived last but happened in between: "was" is the score before it in clinical time.
        "PHQ-9 16 (moderately severe), was 18; safety item positive",
    ]


def test_medication_texts_use_the_drug_of_the_course_and_daily_doses() -> None:
    start = med_started("m-1", dose=50, times=1, at=day(0))
    up = dose_adjusted("m-1", 50, 100, 100, at=day(14))
    twice = med_started("m-2", dose=25, times=2, drug={"code": "x", "system": "RxNorm", "name": "quetiapine"},
                        at=day(1))
    twice_up = dose_adjusted("m-2", 25, 50, 100, at=day(20))
    prn = med_started("m-3", dose=1, times=3, as_needed=True,
                      drug={"code": "y", "system": "RxNorm", "name": "lorazepam"}, at=day(2))
    effect = fact("pharmacy", "AdverseEffectReported", {"medication_id": "m-1", "effect": "nausea after lunch",
                                                        "severity": "moderate", "reporter_id": "s"},
                  stream="medication-m-1", seq=3, at=day(15))
    stop = fact("pharmacy", "MedicationDiscontinued", {"medication_id": "m-1", "reason": "x", "prescriber_id": "s"},
                stream="medication-m-1", seq=4, at=day(30))
    assert texts(start, up, twice, twice_up, prn, effect, stop) == [
        "sertraline started, 50 mg once daily (50 mg/day)",
        "sertraline 50 → 100 mg/day",
        "quetiapine started, 25 mg twice daily (50 mg/day)",
        "quetiapine 50 → 100 mg/day",
        "lorazepam started, 1 mg as needed, up to 3 times daily (up to 3 mg/day)",
        "adverse effect of sertraline reported (moderate)",
        "sertraline stopped",
    ]


def test_a_dose_change_of_a_course_never_seen_says_so() -> None:
    assert texts(dose_adjusted("m-9", 10, 20, 20)) == ["unknown medication 10 → 20 mg"]


def test_therapy_texts_carry_the_modality_of_the_episode() -> None:
    facts = [
        therapy("TherapyEpisodeStarted", {"modality": "cbt", "care_step": 2, "setting": "individual"}, at=day(0)),
        therapy("SessionScheduled", {"session_id": "s1", "scheduled_at": day(7).isoformat()}, seq=2, at=day(1)),
        therapy("SessionCompleted", {"session_id": "s1", "duration_min": 50, "techniques": ["thought_record"]},
                seq=3, at=day(7)),
        therapy("SessionMissed", {"session_id": "s2"}, seq=4, at=day(14)),
        therapy("SessionCancelled", {"session_id": "s3", "by": "patient"}, seq=5, at=day(21)),
        therapy("ModalityChanged", {"from_modality": "cbt", "to_modality": "behavioral_activation",
                                    "reason": "non_response"}, seq=6, at=day(28)),
        therapy("CareStepChanged", {"from_step": 2, "to_step": 3, "reason": "partial_response"}, seq=7, at=day(29)),
        therapy("SessionCompleted", {"session_id": "s4", "duration_min": 45}, seq=8, at=day(35)),
        therapy("TherapyEpisodeEnded", {"reason": "remission"}, seq=9, at=day(80)),
    ]
    assert texts(*facts) == [
        "CBT episode started at care step 2 (individual)",
        "CBT session scheduled for 2026-03-09",
        "CBT session completed (50 min)",
        "CBT session missed",
        "CBT session cancelled by the patient",
        "modality CBT → behavioral activation (non response)",
        "care step 2 → 3 (partial response)",
        "behavioral activation session completed (45 min)",
        "behavioral activation episode ended (remission)",
    ]


def test_assessment_record_and_team_decision_texts() -> None:
    review = fact("coordination", "CarePlanReviewed", {
        "review_id": "r1", "reason": "life_change", "goals": ["return_to_work", "sleep_improvement"],
        "reviewed_by": "staff-2"}, stream=f"care-plan-{PATIENT}", seq=2, at=day(10))
    conference = fact("coordination", "CaseConferenceHeld", {
        "conference_id": "c1", "attendees": ["staff-1", "staff-2", "staff-3"],
        "decisions": ["escalate_psychotherapy", "review_medication"], "recorded_by": "staff-1"},
        stream=f"care-plan-{PATIENT}", seq=3, at=day(11))
    assert texts(
        enrolled(at=day(0)),
        life_change("housing", "worsened", "high", at=day(3), seq=2),
        escalation(target="both", reason="non_response", at=day(5)),
        review, conference,
        fact("assessment", "PatientPreferencesUpdated", {"preferences": {
            "language": "de", "prefers_non_pharmacological_first": True}}, stream=f"patient-{PATIENT}", seq=3),
        # an entry of a type coordination does not read, as earlier versions recorded one
        replace(fact("assessment", "PatientPreferencesUpdated", {"preferences": {}}, stream=f"patient-{PATIENT}",
                     seq=4), event_name="PatientTransferred", body=OtherEvent()),
    ) == [
        "enrolled (age 40-49)",
        "housing worsened (high impact)",
        "escalation of pharmacotherapy and psychotherapy decided (non response), due 2026-03-21",
        "care plan reviewed (life change); goals: return to work, sleep improvement",
        "case conference, 3 attendees: escalate psychotherapy, review medication",
        "preferences updated: non-pharmacological first, language de",
        "patient transferred (assessment)",
    ]


def test_free_text_of_a_v1_event_never_reaches_the_timeline() -> None:
    """v1 pharmacy events carried the client's words; read as v2 they carry ``other`` and no words."""
    start = med_started("m-1", drug={"code": "36437", "system": "RxNorm", "name": "Erika's pills"}, version=1,
                        indication="low mood since the divorce from Erika")
    adjust = dose_adjusted("m-1", 50, 100, 100, reason="Mr Smith asked for more", version=1)
    rows, _ = project({}, [start, adjust])
    for row in rows:
        blob = f"{row.summary} {row.data}"
        assert "Erika" not in blob and "Smith" not in blob
    assert rows[0].summary == "RxNorm 36437 started, 50 mg once daily (50 mg/day)"
    assert rows[0].data["indication"] is None and rows[0].data["drug"]["name"] == "RxNorm 36437"
    assert rows[1].data == {"medication_id": "m-1", "previous_dose": 50, "dose": 100, "unit": "mg",
                            "direction": "increase", "daily_dose": 100, "reason": "other", "override_reason": None}


def test_v2_codes_say_why_in_the_timeline() -> None:
    start = med_started("m-1", indication={"system": "ICD-10", "code": "F32.1"})
    adjust = dose_adjusted("m-1", 50, 100, 100, reason="insufficient_response")
    effect = fact("pharmacy", "AdverseEffectReported", {"medication_id": "m-1", "effect": "sexual_dysfunction",
                                                        "severity": "moderate", "reporter_id": "s"},
                  stream="medication-m-1", seq=3, at=day(15), version=2)
    stop = fact("pharmacy", "MedicationDiscontinued", {"medication_id": "m-1", "reason": "adverse_effect",
                                                       "prescriber_id": "s"},
                stream="medication-m-1", seq=4, at=day(30), version=2)
    assert texts(start, adjust, effect, stop) == [
        "sertraline started, 50 mg once daily (50 mg/day) for ICD-10 F32.1",
        "sertraline 50 → 100 mg/day (insufficient response)",
        "adverse effect of sertraline reported: sexual dysfunction (moderate)",
        "sertraline stopped (adverse effect)",
    ]
    with pytest.raises(UnknownEventType):  # dead-lettered: neither its name nor its words reach the timeline
        fact("assessment", "PatientTransferred", {"to_clinic_id": "clinic-b", "note": "moved in with Erika"})
    kept = replace(effect, event_name="PatientTransferred", body=OtherEvent())  # as earlier versions kept one
    assert coded(kept) == {}


def test_describe_reads_the_summary_before_the_event() -> None:
    before: PatientSummary = empty(PATIENT, "clinic-a")
    assert describe(before, dose_adjusted("m-1", 50, 100, 100)).startswith("unknown medication")
    assert number(12.5) == "12.5" and number(100.0) == "100" and number(0.25) == "0.25"
