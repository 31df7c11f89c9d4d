"""The quality measures on hand-built histories, at every boundary of every definition."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.coordination.registry.measures import (
    MEASURES,
    MEASURES_BY_ID,
    Month,
    Outcome,
    compute,
    improved,
)
from services.coordination.registry.record import CareRecord, care_record
from services.coordination.rules import HistoryEvent
from tests.unit.coordination_rules.builders import (
    IBUPROFEN,
    PARACETAMOL,
    PATIENT,
    PREGABALIN,
    QUETIAPINE,
    SERTRALINE,
    completed,
    conference,
    day,
    escalated,
    event,
    scored,
    started,
    stopped,
    unknown,
)

LATE = day(400)  # every window has closed


def record(history: list[HistoryEvent], as_of: datetime = LATE) -> CareRecord:
    found = care_record(PATIENT, "clinic-a", history, as_of)
    assert found is not None
    return found


def outcome(measure_id: str, history: list[HistoryEvent], as_of: datetime = LATE) -> Outcome | None:
    evaluate = MEASURES_BY_ID[measure_id].evaluate
    assert evaluate is not None
    return evaluate(record(history, as_of), as_of)


# --------------------------------------------------------------------------- follow-up within 4 weeks


def test_a_contact_on_day_28_is_a_follow_up_and_one_on_day_29_is_not() -> None:
    assert outcome("follow_up_4w", [scored("PHQ-9", 12, day(0)), completed(day(28))]) == Outcome(True)
    assert outcome("follow_up_4w", [scored("PHQ-9", 12, day(0)), completed(day(29))]) == Outcome(False)
    assert outcome("follow_up_4w", [scored("PHQ-9", 12, day(0)), scored("PHQ-9", 11, day(28.6))]) == Outcome(True)


def test_a_second_contact_on_the_first_day_is_not_a_follow_up() -> None:
    assert outcome("follow_up_4w", [scored("PHQ-9", 12, day(0)), completed(day(0.3))]) == Outcome(False)
    assert outcome("follow_up_4w", [scored("PHQ-9", 12, day(0)), completed(day(1))]) == Outcome(True)


def test_a_session_missed_or_a_team_decision_is_no_contact() -> None:
    history = [scored("PHQ-9", 12, day(0)), escalated(day(10)), conference(day(12)),
               event("therapy", "SessionMissed", {"session_id": "s"}, day(14))]
    assert outcome("follow_up_4w", history) == Outcome(False)


def test_the_follow_up_counts_once_day_28_has_passed() -> None:
    history = [scored("PHQ-9", 12, day(0)), completed(day(3))]
    assert outcome("follow_up_4w", history, as_of=day(28.6)) is None
    assert outcome("follow_up_4w", history, as_of=day(29)) == Outcome(True)


def test_an_earlier_enrolment_starts_the_clock() -> None:
    enrolled = event("assessment", "PatientEnrolled", {"age_band": "40-49"}, day(-5))
    assert outcome("follow_up_4w", [enrolled, completed(day(24))]) == Outcome(False)  # day 29 of care
    assert outcome("follow_up_4w", [enrolled, completed(day(23))]) == Outcome(True)
    assert record([enrolled, scored("PHQ-9", 12, day(0))]).start == day(-5)


def test_what_was_recorded_later_is_not_known_before() -> None:
    late = completed(day(20), recorded=day(40))
    history = [scored("PHQ-9", 12, day(0)), late]
    assert outcome("follow_up_4w", history, as_of=day(30)) == Outcome(False)
    assert outcome("follow_up_4w", history, as_of=day(40)) == Outcome(True)


# --------------------------------------------------------------------------- improvement and case review


@pytest.mark.parametrize(("baseline", "score", "expected"), [
    (16, 9, True), (16, 10, False), (24, 12, True), (24, 13, False), (10, 9, True), (10, 10, False)])
def test_improved_is_below_10_or_half_the_baseline(baseline: int, score: int, expected: bool) -> None:
    assert improved(baseline, score) is expected


def non_responder(*more: HistoryEvent, baseline: int = 16) -> list[HistoryEvent]:
    return [scored("PHQ-9", baseline, day(0)), scored("PHQ-9", 14, day(42)), *more]


def test_a_case_conference_on_day_56_or_84_is_a_review_and_on_day_55_or_85_not() -> None:
    for n, met in ((55, False), (56, True), (84, True), (85, False)):
        assert outcome("case_review_8_12w", non_responder(conference(day(n)))) == Outcome(met), n
    assert outcome("case_review_8_12w", non_responder(escalated(day(70)))) == Outcome(True)


def test_a_baseline_of_9_is_outside_and_10_inside() -> None:
    assert outcome("case_review_8_12w", non_responder(baseline=9)) is None
    assert outcome("case_review_8_12w", [scored("PHQ-9", 10, day(0)), scored("PHQ-9", 10, day(50))]) == Outcome(False)


def test_improved_by_week_8_leaves_the_patient_out_and_a_score_after_day_56_does_not_count() -> None:
    assert outcome("case_review_8_12w", [scored("PHQ-9", 16, day(0)), scored("PHQ-9", 9, day(56))]) is None
    assert outcome("case_review_8_12w", [scored("PHQ-9", 16, day(0)), scored("PHQ-9", 14, day(56)),
                                         scored("PHQ-9", 4, day(57))]) == Outcome(False)
    # the latest score by day 56 decides: improved at day 30, worse again at day 50
    assert outcome("case_review_8_12w", [scored("PHQ-9", 16, day(0)), scored("PHQ-9", 7, day(30)),
                                         scored("PHQ-9", 15, day(50))]) == Outcome(False)


def test_the_case_review_counts_once_day_84_has_passed() -> None:
    assert outcome("case_review_8_12w", non_responder(conference(day(60))), as_of=day(84.6)) is None
    assert outcome("case_review_8_12w", non_responder(conference(day(60))), as_of=day(85)) == Outcome(True)


def test_a_patient_discharged_before_week_8_is_left_out() -> None:
    discharge = event("coordination", "CaseConferenceHeld", {"conference_id": "c", "attendees": ["s"],
                                                              "decisions": ["discharge"], "recorded_by": "s"}, day(50))
    assert outcome("case_review_8_12w", non_responder(discharge)) is None


# --------------------------------------------------------------------------- days from non-response to escalation


def test_days_from_day_56_to_the_first_escalation_on_or_after_it() -> None:
    assert outcome("nonresponse_to_escalation_days", non_responder(escalated(day(56)))) == Outcome(True, 0)
    assert outcome("nonresponse_to_escalation_days",
                   non_responder(escalated(day(30)), escalated(day(66)), escalated(day(90)))) == Outcome(True, 10)
    assert outcome("nonresponse_to_escalation_days", non_responder(escalated(day(55)))) == Outcome(False)
    assert outcome("nonresponse_to_escalation_days", non_responder(), as_of=day(55.6)) is None
    assert outcome("nonresponse_to_escalation_days", non_responder(), as_of=day(56)) == Outcome(False)


# --------------------------------------------------------------------------- response and remission


@pytest.mark.parametrize(("n", "counts"), [(69, False), (70, True), (98, True), (99, False)])
def test_the_12_week_window_is_days_70_to_98(n: int, counts: bool) -> None:
    history = [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 4, day(n))]
    assert outcome("response_12w", history) == Outcome(counts)
    assert outcome("remission_12w", history) == Outcome(counts)


@pytest.mark.parametrize(("n", "counts"), [(153, False), (154, True), (182, True), (183, False)])
def test_the_24_week_window_is_days_154_to_182(n: int, counts: bool) -> None:
    history = [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 4, day(n))]
    assert outcome("response_24w", history) == Outcome(counts)
    assert outcome("remission_24w", history) == Outcome(counts)


def test_response_is_half_the_baseline_and_remission_below_5() -> None:
    assert outcome("response_12w", [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 10, day(84))]) == Outcome(True)
    assert outcome("response_12w", [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 11, day(84))]) == Outcome(False)
    assert outcome("remission_12w", [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 4, day(84))]) == Outcome(True)
    assert outcome("remission_12w", [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 5, day(84))]) == Outcome(False)


def test_the_score_nearest_the_target_decides_and_a_tie_goes_to_the_later() -> None:
    near = [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 4, day(72)), scored("PHQ-9", 15, day(86))]
    assert outcome("remission_12w", near) == Outcome(False)
    tie = [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 15, day(80)), scored("PHQ-9", 4, day(88))]
    assert outcome("remission_12w", tie) == Outcome(True)


def test_baseline_9_is_outside_10_inside_and_no_score_in_the_window_is_not_met() -> None:
    assert outcome("response_12w", [scored("PHQ-9", 9, day(0)), scored("PHQ-9", 2, day(84))]) is None
    assert outcome("response_12w", [scored("PHQ-9", 10, day(0)), scored("PHQ-9", 5, day(84))]) == Outcome(True)
    assert outcome("response_12w", [scored("PHQ-9", 10, day(0)), scored("PHQ-9", 2, day(60))]) == Outcome(False)


def test_response_counts_once_the_window_has_closed() -> None:
    history = [scored("PHQ-9", 20, day(0)), scored("PHQ-9", 4, day(84))]
    assert outcome("response_12w", history, as_of=day(98.6)) is None
    assert outcome("response_12w", history, as_of=day(99)) == Outcome(True)


def test_other_instruments_do_not_make_a_baseline() -> None:
    assert outcome("response_12w", [scored("GAD-7", 15, day(0)), scored("PHQ-9", 12, day(3)),
                                    scored("PHQ-9", 6, day(84))]) == Outcome(True)


# --------------------------------------------------------------------------- polypharmacy and compute


FOUR = [SERTRALINE, IBUPROFEN, PARACETAMOL, PREGABALIN]
MARCH, APRIL, MAY = Month(2026, 3), Month(2026, 4), Month(2026, 5)


def poly_month(history: list[HistoryEvent], month: Month, as_of: datetime = LATE) -> Outcome | None:
    result = compute([record(history, as_of)], as_of, month, month, ["clinic-a"])
    cell = result.cell("clinic-a", month, "polypharmacy")
    if PATIENT not in cell.denominator:
        return None
    return Outcome(PATIENT in cell.numerator)


def test_polypharmacy_is_five_distinct_drugs_at_once_in_the_month() -> None:
    base = [scored("PHQ-9", 12, day(0)), *(started(d, day(1)) for d in FOUR)]
    assert poly_month(base, MARCH) == Outcome(False)
    assert poly_month([*base, started(QUETIAPINE, day(20))], MARCH) == Outcome(True)  # 2026-03-22
    assert poly_month([*base, started(QUETIAPINE, day(30))], MARCH) == Outcome(False)  # 2026-04-01
    assert poly_month([*base, started(QUETIAPINE, day(30))], APRIL) == Outcome(True)


def test_a_second_course_of_the_same_drug_is_not_a_fifth_drug_and_a_switch_at_one_instant_counts_once() -> None:
    base = [scored("PHQ-9", 12, day(0)), *(started(d, day(1)) for d in FOUR)]
    assert poly_month([*base, started(SERTRALINE, day(2), course="again")], MARCH) == Outcome(False)
    switch = [*base, started(QUETIAPINE, day(2)), stopped("course-161", day(2)), started(unknown("999"), day(2))]
    assert poly_month(switch, MARCH) == Outcome(True)
    swapped = [*base, stopped("course-161", day(2)), started(QUETIAPINE, day(2))]
    assert poly_month(swapped, MARCH) == Outcome(False)


def test_a_stretch_that_ended_before_the_month_does_not_count_and_the_month_after_as_of_is_unseen() -> None:
    history = [scored("PHQ-9", 12, day(0)), *(started(d, day(1)) for d in [*FOUR, QUETIAPINE]),
               stopped("course-51272", datetime(2026, 4, 1, tzinfo=day(0).tzinfo))]
    assert poly_month(history, MARCH) == Outcome(True)
    assert poly_month(history, APRIL) == Outcome(False)
    assert poly_month(history, MAY, as_of=datetime(2026, 4, 20, tzinfo=day(0).tzinfo)) is None


def test_compute_groups_by_the_month_care_started_with_patients_and_the_median() -> None:
    records = []
    for n, (start, esc) in enumerate([(0, 56), (2, 60), (40, None), (1, 70)]):  # March, March, April, March
        p = f"p{n}"
        history = [scored("PHQ-9", 16, day(start), patient=p), scored("PHQ-9", 15, day(start + 40), patient=p)]
        if esc is not None:
            history.append(escalated(day(start + esc), patient=p))
        found = care_record(p, "clinic-a", history, LATE)
        assert found is not None
        records.append(found)
    result = compute(records, LATE, MARCH, APRIL, ["clinic-a", "clinic-b"])
    assert len(result.cells) == 2 * 2 * len(MEASURES)
    march = result.cell("clinic-a", MARCH, "nonresponse_to_escalation_days")
    assert (march.numerator, march.denominator, march.median_days, march.rate) == (
        ("p0", "p1", "p3"), ("p0", "p1", "p3"), 4.0, 1.0)  # days 0, 4 and 14 after day 56
    april = result.cell("clinic-a", APRIL, "nonresponse_to_escalation_days")
    assert (april.numerator, april.denominator, april.median_days, april.rate) == ((), ("p2",), None, 0.0)
    review = result.cell("clinic-a", MARCH, "case_review_8_12w")
    assert (review.numerator, review.denominator) == (("p0", "p1", "p3"), ("p0", "p1", "p3"))
    empty = result.cell("clinic-b", MARCH, "follow_up_4w")
    assert (empty.numerator, empty.denominator, empty.rate) == ((), (), None)


def test_the_same_history_gives_the_same_result_whatever_its_order() -> None:
    history = non_responder(conference(day(60)), completed(day(10)), started(SERTRALINE, day(3)))
    forward = compute([record(history)], LATE, MARCH, MAY, ["clinic-a"])
    backward = compute([record(list(reversed(history)))], LATE, MARCH, MAY, ["clinic-a"])
    assert forward == backward


def test_month_parsing() -> None:
    assert Month.parse("2026-03") == MARCH and Month.parse("2026-03-31") == MARCH
    assert str(Month(2026, 12).next()) == "2027-01"
    for bad in ("2026", "2026-13", "march", "2026-3x"):
        with pytest.raises(ValueError):
            Month.parse(bad)
    assert day(0) + timedelta(days=30) >= APRIL.start
