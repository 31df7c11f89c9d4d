"""Folding events into a patient's summary, and the summary as clients read it."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

from services.coordination.projection.batch import project
from services.coordination.projection.facts import Fact
from services.coordination.projection.fold import fold
from services.coordination.projection.state import PatientSummary, empty
from services.coordination.projection.view import change_percent, summary_view
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


def summarise(*facts: Fact) -> PatientSummary:
    state = empty(PATIENT, "clinic-a")
    for f in facts:
        state = fold(state, f)
    return state


def history() -> list[Fact]:
    """A patient's three months across all four sources, in clinical order."""
    return [
        enrolled(at=day(0)),
        assessed("PHQ-9", 18, "moderately_severe", at=day(1), seq=2),
        assessed("PHQ-15", 12, "medium", at=day(1), seq=3),
        med_started("m-1", dose=50, at=day(2)),
        therapy("TherapyEpisodeStarted", {"modality": "cbt", "care_step": 2, "setting": "individual"}, at=day(3)),
        therapy("SessionCompleted", {"session_id": "s1", "duration_min": 50}, seq=2, at=day(10)),
        therapy("SessionMissed", {"session_id": "s2"}, seq=3, at=day(17)),
        escalation(at=day(30), eid="esc-1"),
        dose_adjusted("m-1", 50, 100, 100, at=day(35), seq=2),
        med_started("m-2", dose=7.5, drug={"code": "7804", "system": "RxNorm", "name": "oxycodone"},
                    snapshot={"known": True, "atc": "N02AA05", "therapeutic_class": "N02AA", "opioid": True,
                              "cns_depressant": True}, at=day(40)),
        life_change("employment", "worsened", "high", at=day(45), seq=4),
        assessed("PHQ-9", 12, "moderate", at=day(56), seq=5),
        escalation(target="psychotherapy", at=day(60), eid="esc-2", seq=2),
        therapy("SessionCompleted", {"session_id": "s3", "duration_min": 45}, seq=4, at=day(62)),
        fact("pharmacy", "MedicationDiscontinued", {"medication_id": "m-2", "reason": "x", "prescriber_id": "s"},
             stream="medication-m-2", seq=2, at=day(70)),
        assessed("PHQ-9", 8, "mild", at=day(84), seq=6),
    ]


def test_the_summary_holds_active_medications_open_episode_scores_and_open_escalations() -> None:
    state = summarise(*history())
    view = summary_view(state, now=day(90))
    assert [(m["drug"]["name"], m["dose"], m["daily_dose"], m["therapeutic_class"], m["risk_properties"])
            for m in view["medications"]] == [("sertraline", 100, 100, "N06AB", ["serotonergic"])]
    [episode] = view["therapy_episodes"]
    assert (episode["modality"], episode["care_step"], episode["last_completed_at"]) == ("cbt", 2, day(62))
    assert episode["sessions"] | {} == {"scheduled": 0, "completed": 2, "missed": 1, "cancelled_by_patient": 0,
                                        "cancelled_by_clinic": 0}
    phq9 = view["instruments"]["PHQ-9"]
    assert (phq9["baseline"]["total"], phq9["latest"]["total"], phq9["change_percent"], phq9["band"],
            phq9["count"]) == (18, 8, -55.6, "mild", 3)
    assert view["instruments"]["PHQ-15"]["change_percent"] is None  # one score: no change yet
    # esc-1 was enacted by the dose change on day 35; esc-2 (day 60) by nothing since.
    assert [(e["escalation_id"], e["due_by"], e["overdue"]) for e in view["open_escalations"]] == [
        ("esc-2", day(74), True)]
    assert [c["category"] for c in view["life_changes"]] == ["employment"]
    assert (view["age_band"], view["event_count"], view["last_event_at"]) == ("40-49", 16, day(84))
    assert view["open_flags"] == []


def test_life_changes_older_than_90_days_drop_out_of_the_summary_but_not_the_state() -> None:
    state = summarise(life_change("housing", "worsened", "high", at=day(0)),
                      life_change("family", "improved", "low", at=day(50)))
    assert [c["category"] for c in summary_view(state, now=day(95))["life_changes"]] == ["family"]
    assert [c["category"] for c in summary_view(state, now=day(89))["life_changes"]] == ["housing", "family"]
    assert len(state.life_changes) == 2


def test_only_a_step_up_enacts_an_escalation() -> None:
    start = therapy("TherapyEpisodeStarted", {"modality": "cbt", "care_step": 3}, at=day(0))
    down = therapy("CareStepChanged", {"from_step": 3, "to_step": 2, "reason": "remission"}, seq=2, at=day(20))
    decided = escalation(target="psychotherapy", at=day(10))
    assert [e["escalation_id"] for e in summary_view(summarise(start, decided, down), day(21))["open_escalations"]] \
        == ["esc-1"]
    up = therapy("CareStepChanged", {"from_step": 2, "to_step": 3, "reason": "non_response"}, seq=3, at=day(22))
    assert summary_view(summarise(start, decided, down, up), day(23))["open_escalations"] == []


def test_an_enacting_event_before_the_decision_does_not_enact_it() -> None:
    early = med_started("m-1", at=day(1))
    decided = escalation(at=day(5))
    for order in ([early, decided], [decided, early]):
        assert len(summary_view(summarise(*order), day(6))["open_escalations"]) == 1


def test_any_interleaving_that_keeps_each_streams_order_gives_the_same_summary() -> None:
    """Four topics reach the projection in any interleaving; each stream keeps its order."""
    facts = history()
    by_stream: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        by_stream[f.stream_id].append(f)
    expected = summarise(*facts)
    expected_texts = {r.event_id: r.summary for r in project({}, facts)[0]}
    rng = random.Random(7)
    for _ in range(50):
        queues = {k: list(v) for k, v in by_stream.items()}
        order = []
        while queues:
            stream = rng.choice(sorted(queues))
            order.append(queues[stream].pop(0))
            if not queues[stream]:
                del queues[stream]
        rows, changed = project({}, order)
        assert changed[PATIENT] == expected
        assert {r.event_id: r.summary for r in rows} == expected_texts


def test_a_batch_continues_from_stored_summaries_and_returns_only_changed_patients() -> None:
    facts = history()
    first, second = facts[:5], facts[5:]
    _, stored = project({}, first)
    other = enrolled(patient="patient-2")
    rows, changed = project(stored, [*second, other])
    assert set(changed) == {PATIENT, "patient-2"}
    assert changed[PATIENT] == summarise(*facts)
    assert len(rows) == len(second) + 1


def test_discontinued_courses_leave_the_summary_but_keep_their_name_for_later_events() -> None:
    start = med_started("m-1", at=day(0))
    stop = fact("pharmacy", "MedicationDiscontinued", {"medication_id": "m-1", "reason": "x", "prescriber_id": "s"},
                stream="medication-m-1", seq=2, at=day(10))
    effect = fact("pharmacy", "AdverseEffectReported", {"medication_id": "m-1", "effect": "x", "severity": "mild",
                                                        "reporter_id": "s"}, stream="medication-m-1", seq=3,
                  at=day(12))
    rows, changed = project({}, [start, stop, effect])
    assert summary_view(changed[PATIENT], day(13))["medications"] == []
    assert rows[-1].summary == "adverse effect of sertraline reported (mild)"


def test_change_percent() -> None:
    assert change_percent(18, 9) == -50.0
    assert change_percent(10, 12) == 20.0
    assert change_percent(0, 3) is None


def test_the_newest_open_episode_comes_first_and_ended_ones_are_left_out() -> None:
    a = therapy("TherapyEpisodeStarted", {"modality": "cbt", "care_step": 2}, episode="a", at=day(0))
    b = therapy("TherapyEpisodeStarted", {"modality": "group", "care_step": 2, "setting": "group"}, episode="b",
                at=day(5))
    c = therapy("TherapyEpisodeStarted", {"modality": "act", "care_step": 1}, episode="c", at=day(6))
    c_end = therapy("TherapyEpisodeEnded", {"reason": "dropout"}, episode="c", seq=2, at=day(7))
    view = summary_view(summarise(a, b, c, c_end), day(8) + timedelta(hours=1))
    assert [e["episode_id"] for e in view["therapy_episodes"]] == ["b", "a"]
