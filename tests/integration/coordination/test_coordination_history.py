"""Three months of care for three patients through the real HTTP APIs of the four services,
Kafka and PostgreSQL; then every timeline and every summary field is checked, as a care
team would read them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from coordination_chart import CLINICIAN, Chart
from coordination_support import Stack, clinical_stack, enroll, wait_for_entries

from tests.support.services import token

SERTRALINE = {"code": "36437", "system": "RxNorm", "name": "sertraline"}
OXYCODONE = {"code": "7804", "system": "RxNorm", "name": "oxycodone"}
DULOXETINE = {"code": "72625", "system": "RxNorm", "name": "duloxetine"}


@pytest.fixture
async def stack(pg_url: str, kafka_bootstrap: str, schema: str, namespace: str) -> AsyncIterator[Stack]:
    async with clinical_stack(pg_url, kafka_bootstrap, schema, namespace, with_therapy=True) as s:
        yield s


def start_of_history() -> datetime:
    """95 days ago at 09:00 UTC: the first life change falls out of the 90-day window."""
    return (datetime.now(UTC) - timedelta(days=95)).replace(hour=9, minute=0, second=0, microsecond=0)


def iso_day(moment: datetime) -> str:
    return moment.date().isoformat()


async def chart_a(c: Chart) -> None:
    """Depression with somatic symptoms: an SSRI titrated after an escalation, CBT, two life changes."""
    d = c.day
    await c.life("employment", "worsened", "high", d(0), "employment worsened (high impact)",
                 note="lost the job at Müller GmbH")
    await c.score("PHQ-9", [2, 2, 2, 2, 2, 2, 2, 2, 0], d(1), "PHQ-9 16 (moderately severe)")
    await c.score("GAD-7", [2, 2, 1, 1, 1, 1, 1], d(1), "GAD-7 9 (mild)")  # same moment: recorded order
    await c.score("PHQ-15", [1] * 12 + [0] * 3, d(1, 10), "PHQ-15 12 (medium)")
    await c.start(SERTRALINE, 50, 1, d(2, 10), "sertraline started, 50 mg once daily (50 mg/day) for ICD-10 F45.4")
    await c.episode("cbt", 2, d(3, 14), "CBT episode started at care step 2 (individual)", setting="individual")
    s1 = await c.schedule(d(10, 14), f"CBT session scheduled for {iso_day(d(10))}")
    await c.complete(s1, d(10, 14, 50), 50, "CBT session completed (50 min)")
    s2 = await c.schedule(d(17, 14), f"CBT session scheduled for {iso_day(d(17))}")
    await c.no_show(s2, d(17, 14), "CBT session missed")  # at the scheduled time
    await c.score("PHQ-9", [2, 2, 2, 2, 2, 1, 2, 1, 0], d(29), "PHQ-9 14 (moderate), was 16")
    await c.escalate("pharmacotherapy", "partial_response", d(30, 11),
                     f"escalation of pharmacotherapy decided (partial response), due {iso_day(d(44))}")
    await c.adjust("sertraline", 100, d(31, 10), "sertraline 50 → 100 mg/day (insufficient response)")
    await c.effect("sertraline", "moderate", d(33, 8), "adverse effect of sertraline reported: nausea (moderate)")
    await c.life("housing", "worsened", "moderate", d(40), "housing worsened (moderate impact)")
    await c.review("life_change", ["return_to_work", "sleep_improvement"], d(45, 15),
                   "care plan reviewed (life change); goals: return to work, sleep improvement")
    s3 = await c.schedule(d(52, 14), f"CBT session scheduled for {iso_day(d(52))}")
    await c.complete(s3, d(52, 14, 45), 45, "CBT session completed (45 min)")
    await c.score("PHQ-9", [1, 1, 1, 1, 1, 1, 1, 1, 0], d(57), "PHQ-9 8 (mild), was 14")
    await c.score("GAD-7", [1, 1, 1, 1, 0, 0, 0], d(57, 9, 10), "GAD-7 4 (minimal), was 9")
    await c.change_modality("behavioral_activation", "partial_response", d(60, 12),
                            "modality CBT → behavioral activation (partial response)")
    s4 = await c.schedule(d(67, 14), f"behavioral activation session scheduled for {iso_day(d(67))}")
    await c.complete(s4, d(67, 14, 50), 50, "behavioral activation session completed (50 min)")
    await c.score("PHQ-9", [1, 1, 0, 1, 1, 0, 0, 0, 0], d(85), "PHQ-9 4 (minimal), was 8")


async def chart_b(c: Chart) -> dict[str, Any]:
    """Pain with an opioid, a case conference and an escalation of psychotherapy never enacted."""
    d = c.day
    await c.score("PAIN-NRS", [7], d(5), "PAIN-NRS 7 (severe)")
    await c.score("PHQ-9", [3, 2, 2, 2, 2, 2, 1, 1, 1], d(5, 9, 10),
                  "PHQ-9 16 (moderately severe); safety item positive")
    await c.start(OXYCODONE, 5, 2, d(6, 10), "oxycodone started, 5 mg twice daily (10 mg/day) for ICD-10 F45.4")
    await c.start(DULOXETINE, 30, 1, d(6, 10, 30), "duloxetine started, 30 mg once daily (30 mg/day) for ICD-10 F45.4")
    await c.episode("cbt", 1, d(8, 14), "CBT episode started at care step 1 (remote)", setting="remote")
    await c.conference(["staff-1", "staff-2", "staff-7"], ["escalate_psychotherapy", "review_medication"],
                       d(20, 11), "case conference, 3 attendees: escalate psychotherapy, review medication")
    escalation = await c.escalate("psychotherapy", "non_response", d(20, 11, 30),
                                  f"escalation of psychotherapy decided (non response), due {iso_day(d(27))}",
                                  due_by=d(27, 11, 30))
    s1 = await c.schedule(d(25, 14), f"CBT session scheduled for {iso_day(d(25))}")
    await c.cancel(s1, d(24, 8), "clinic", "CBT session cancelled by the clinic")  # the day before
    s2 = await c.schedule(d(32, 14), f"CBT session scheduled for {iso_day(d(32))}")
    await c.complete(s2, d(32, 14, 50), 50, "CBT session completed (50 min)")
    await c.stop("oxycodone", d(40, 9), "oxycodone stopped (remission)")
    await c.score("PHQ-9", [2, 2, 2, 2, 2, 2, 1, 1, 0], d(60), "PHQ-9 14 (moderate), was 16")
    return escalation


async def chart_c(c: Chart) -> None:
    """Another clinic's patient: a score and a life change."""
    await c.score("PHQ-9", [0, 1, 0, 1, 0, 1, 0, 1, 0], c.day(2), "PHQ-9 4 (minimal)")
    await c.life("family", "improved", "low", c.day(60), "family improved (low impact)")


async def read_timeline(stack: Stack, patient_id: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    resp = await stack.coordination.get(f"/v1/patients/{patient_id}/timeline", headers=headers,
                                        params={"limit": 1000, **params})
    assert resp.status_code == 200, resp.text
    assert resp.json()["next_cursor"] is None
    return resp.json()["entries"]  # type: ignore[no-any-return]


def check_timeline(entries: list[dict[str, Any]], chart: Chart) -> None:
    expected = chart.ordered()
    assert len(entries) == len(expected) + 1, "one entry per command, plus the enrolment"
    got = [(e["service"], e["type"], e["summary"]) for e in entries]
    assert got == [(x.service, x.type, x.summary) for x in expected] + [
        ("assessment", "PatientEnrolled", "enrolled (age 40-49)")]
    assert [datetime.fromisoformat(e["occurred_at"]) for e in entries[:-1]] == [x.at for x in expected]
    keys = [(e["occurred_at"], e["recorded_at"]) for e in entries]
    assert keys == sorted(keys, key=lambda k: (datetime.fromisoformat(k[0]), datetime.fromisoformat(k[1])))
    text = repr(entries)
    # identity and the notes beside pharmacy's codes (the code "nausea" itself is shown)
    for identity in ("Erika", "Mustermann", "1981", "Müller", "every morning", "accident", "little change"):
        assert identity not in text, f"{identity!r} reached the timeline"


async def test_three_months_of_care_make_one_timeline_and_summary_per_patient(stack: Stack) -> None:
    t0 = start_of_history()
    a = Chart(stack, await enroll(stack.assessment), t0)
    b = Chart(stack, await enroll(stack.assessment), t0)
    c = Chart(stack, await enroll(stack.assessment, "clinic-b"), t0, clinic="clinic-b")
    await chart_a(a)
    escalation_b = await chart_b(b)
    await chart_c(c)
    await wait_for_entries(stack.pool, {ch.patient_id: len(ch.expected) + 1 for ch in (a, b, c)})

    for ch in (a, b, c):
        check_timeline(await read_timeline(stack, ch.patient_id, ch.headers), ch)

    now = datetime.now(UTC)
    summary_a = (await stack.coordination.get(f"/v1/patients/{a.patient_id}/summary", headers=a.headers)).json()
    [med] = summary_a["medications"]
    assert (med["drug"], med["dose"], med["unit"], med["daily_dose"], med["schedule"]["times_per_day"],
            med["atc"], med["therapeutic_class"], med["risk_properties"]) == (
        SERTRALINE, 100, "mg", 100, 1, "N06AB06", "N06AB", ["serotonergic"])
    [episode] = summary_a["therapy_episodes"]
    assert (episode["modality"], episode["care_step"], episode["setting"]) == (
        "behavioral_activation", 2, "individual")
    assert episode["sessions"] == {"scheduled": 4, "completed": 3, "missed": 1, "cancelled_by_patient": 0,
                                   "cancelled_by_clinic": 0}
    assert datetime.fromisoformat(episode["last_completed_at"]) == a.day(67, 14, 50)
    phq9, gad7, phq15 = (summary_a["instruments"][k] for k in ("PHQ-9", "GAD-7", "PHQ-15"))
    assert (phq9["baseline"]["total"], phq9["latest"]["total"], phq9["change_percent"], phq9["band"],
            phq9["count"]) == (16, 4, -75.0, "minimal", 4)
    assert (gad7["baseline"]["total"], gad7["latest"]["total"], gad7["change_percent"], gad7["band"]) == (
        9, 4, -55.6, "minimal")
    assert (phq15["latest"]["total"], phq15["change_percent"], phq15["band"]) == (12, None, "medium")
    # The job loss (95 days ago) is older than 90 days; the housing change is not.
    assert [(x["category"], x["direction"], x["impact"]) for x in summary_a["life_changes"]] == [
        ("housing", "worsened", "moderate")]
    assert summary_a["open_escalations"] == []  # enacted by the dose change the next day
    review = summary_a["last_care_plan_review"]
    assert (review["reason"], review["goals"], datetime.fromisoformat(review["at"])) == (
        "life_change", ["return_to_work", "sleep_improvement"], a.day(45, 15))
    assert (summary_a["age_band"], summary_a["clinic_id"], summary_a["event_count"]) == (
        "40-49", "clinic-a", len(a.expected) + 1)
    assert [(f["rule_id"], datetime.fromisoformat(f["raised_at"])) for f in summary_a["open_flags"]] == [
        ("disengagement", a.day(88, 14, 50))]  # 21 days after the last completed session
    assert now - timedelta(minutes=1) < datetime.fromisoformat(summary_a["as_of"]) <= datetime.now(UTC)

    summary_b = (await stack.coordination.get(f"/v1/patients/{b.patient_id}/summary", headers=b.headers)).json()
    assert [(m["drug"]["name"], m["daily_dose"], m["risk_properties"]) for m in summary_b["medications"]] == [
        ("duloxetine", 30, ["serotonergic"])]  # oxycodone was stopped
    [episode_b] = summary_b["therapy_episodes"]
    assert (episode_b["modality"], episode_b["care_step"], episode_b["setting"]) == ("cbt", 1, "remote")
    assert datetime.fromisoformat(episode_b["last_completed_at"]) == b.day(32, 14, 50)
    assert episode_b["sessions"] == {"scheduled": 2, "completed": 1, "missed": 0, "cancelled_by_patient": 0,
                                     "cancelled_by_clinic": 1}
    assert summary_b["instruments"]["PHQ-9"]["change_percent"] == -12.5
    assert summary_b["instruments"]["PHQ-9"]["safety_item_positive"] is False  # the latest one is clear
    assert summary_b["instruments"]["PAIN-NRS"]["band"] == "severe"
    [open_b] = summary_b["open_escalations"]
    assert (open_b["escalation_id"], open_b["target"], open_b["reason"], open_b["overdue"]) == (
        escalation_b["escalation_id"], "psychotherapy", "non_response", True)
    assert datetime.fromisoformat(open_b["due_by"]) == b.day(27, 11, 30)
    conference = summary_b["last_case_conference"]
    assert (conference["attendees"], conference["decisions"]) == (3, ["escalate_psychotherapy", "review_medication"])
    assert summary_b["last_care_plan_review"] is None and summary_b["life_changes"] == []

    summary_c = (await stack.coordination.get(f"/v1/patients/{c.patient_id}/summary", headers=c.headers)).json()
    assert [x["category"] for x in summary_c["life_changes"]] == ["family"]
    assert summary_c["medications"] == [] and summary_c["therapy_episodes"] == []

    await check_flags(stack, a, b, c)
    await check_filters_and_scoping(stack, a, c)


async def check_flags(stack: Stack, a: Chart, b: Chart, c: Chart) -> None:
    """Every flag the three months raise, with raised_at and resolved_at in event time."""
    def flags_of(ch: Chart, rows: list[dict[str, Any]]) -> list[tuple[str, datetime, datetime | None]]:
        return [(f["rule_id"], datetime.fromisoformat(f["raised_at"]),
                 datetime.fromisoformat(f["resolved_at"]) if f["resolved_at"] else None) for f in rows]

    got = {}
    for ch in (a, b, c):
        resp = await stack.coordination.get(f"/v1/patients/{ch.patient_id}/flags", headers=ch.headers)
        assert resp.status_code == 200, resp.text
        got[ch.patient_id] = flags_of(ch, [f for f in resp.json() if not f["withdrawn"]])
    d, e = a.day, b.day
    assert got[a.patient_id] == [
        ("plan_review_due", d(14), d(45, 15)),  # the job loss, reviewed on day 45
        ("disengagement", d(31, 14, 50), d(52, 14, 45)),  # 21 days after session 1, until session 3
        ("unreviewed_adverse_effect", d(40, 8), d(45, 15)),  # 7 days after the moderate effect
        ("disengagement", d(88, 14, 50), None),
    ]
    assert got[b.patient_id] == [
        ("safety", e(5, 9, 10), e(60)),  # PHQ-9 item 9 = 1, then 0
        ("dangerous_combination", e(6, 10, 30), e(40, 9)),  # oxycodone + duloxetine until oxycodone stops
        ("stalled_escalation", e(27, 11, 30), None),  # psychotherapy escalation never enacted
        ("disengagement", e(29, 14), e(32, 14, 50)),  # 21 days from the episode's start
        ("disengagement", e(53, 14, 50), None),
    ]
    assert got[c.patient_id] == [("plan_review_due", c.day(74), None)]


async def check_filters_and_scoping(stack: Stack, a: Chart, c: Chart) -> None:
    pharmacy = await read_timeline(stack, a.patient_id, a.headers, types="MedicationStarted,DoseAdjusted")
    assert [e["summary"] for e in pharmacy] == ["sertraline started, 50 mg once daily (50 mg/day) for ICD-10 F45.4",
                                                "sertraline 50 → 100 mg/day (insufficient response)"]
    therapy = await read_timeline(stack, a.patient_id, a.headers, services=["therapy", "coordination"])
    assert {e["service"] for e in therapy} == {"therapy", "coordination"} and len(therapy) == 12
    window = await read_timeline(stack, a.patient_id, a.headers, **{
        "from": a.day(29).isoformat(), "to": a.day(33, 8).isoformat()})
    assert [e["type"] for e in window] == ["AssessmentRecorded", "EscalationDecided", "DoseAdjusted"]

    other_clinic = CLINICIAN["clinic-a"]
    for path in ("timeline", "summary"):
        assert (await stack.coordination.get(f"/v1/patients/{c.patient_id}/{path}",
                                             headers=other_clinic)).status_code == 404
        assert (await stack.coordination.get(f"/v1/patients/no-such-patient/{path}",
                                             headers=other_clinic)).status_code == 404
        assert (await stack.coordination.get(f"/v1/patients/{a.patient_id}/{path}",
                                             headers=token("dashboard"))).status_code == 403
    base = f"/v1/patients/{a.patient_id}/timeline"
    for params in ({"limit": 1001}, {"limit": 0}, {"cursor": "not-a-cursor"}, {"from": "2026-01-01T00:00:00"}):
        resp = await stack.coordination.get(base, headers=a.headers, params=params)
        assert resp.status_code == 422, (params, resp.text)

    auditor = token("auditor", sub="auditor-1")
    await stack.coordination.get(f"/v1/patients/{a.patient_id}/summary", headers=auditor)
    log = (await stack.coordination.get(f"/v1/patients/{a.patient_id}/access-log", headers=auditor)).json()
    reads = [(x["staff_id"], x["action"]) for x in log]
    assert ("staff-1", "read timeline") in reads and ("staff-1", "read summary") in reads
    assert ("auditor-1", "read summary") in reads
    assert not any(x["action"].startswith("read") and x["clinic_id"] != "clinic-a" for x in log)
