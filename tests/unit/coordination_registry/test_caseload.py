"""Caseload rows, their sort orders and the keyset cursor."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.coordination.registry.caseload import (
    SORTS,
    BadCursor,
    caseload_row,
    decode_cursor,
    encode_cursor,
    page,
    sort_key,
)
from services.coordination.registry.record import CareRecord, care_record
from services.coordination.rules import HistoryEvent
from tests.unit.coordination_rules.builders import completed, conference, day, scored


def record(history: list[HistoryEvent], as_of: datetime, patient: str = "patient-1") -> CareRecord:
    found = care_record(patient, "clinic-a", history, as_of)
    assert found is not None
    return found


def test_a_row_has_weeks_scores_change_contacts_and_the_review_due() -> None:
    history = [scored("PHQ-9", 16, day(0)), scored("GAD-7", 12, day(0)), completed(day(20)),
               scored("PHQ-9", 12, day(50))]
    row = caseload_row(record(history, day(60)), "staff-7", {"warning": 2}, day(60))
    assert row["weeks_in_treatment"] == 8
    assert row["phq9"]["baseline"]["total"] == 16 and row["phq9"]["latest"]["total"] == 12
    assert row["phq9"]["change_percent"] == -25.0 and row["gad7"]["change_percent"] is None
    assert (row["last_contact_at"], row["days_since_contact"]) == (day(50), 10)
    assert (row["next_contact_due"], row["contact_overdue"]) == (day(64), False)
    assert row["case_review_due"] is True
    assert row["open_flags"] == {"urgent": 0, "high": 0, "warning": 2, "info": 0}
    assert row["care_manager"] == "staff-7"


@pytest.mark.parametrize(("history_end", "now", "due"), [
    ([], day(55), False),  # before week 8
    ([], day(56), True),
    ([conference(day(56))], day(60), False),  # a case conference since week 8
    ([conference(day(40))], day(60), True),  # one before week 8 does not count
    ([scored("PHQ-9", 9, day(58))], day(60), False),  # improved
])
def test_case_review_due(history_end: list[HistoryEvent], now: datetime, due: bool) -> None:
    history = [scored("PHQ-9", 16, day(0)), scored("PHQ-9", 14, day(42)), *history_end]
    assert caseload_row(record(history, now), None, {}, now)["case_review_due"] is due


def test_a_baseline_of_9_never_makes_a_review_due() -> None:
    assert caseload_row(record([scored("PHQ-9", 9, day(0))], day(90)), None, {}, day(90))["case_review_due"] is False


def rows() -> list[dict[str, object]]:
    out = []
    for n, (latest, contact) in enumerate([(20, 10), (5, 30), (14, 2), (14, 2)]):
        p = f"p{n}"
        history = [scored("PHQ-9", 16, day(0), patient=p), scored("PHQ-9", latest, day(contact), patient=p)]
        out.append(caseload_row(record(history, day(40), p), None, {"urgent": n % 2}, day(40)))
    return out


def test_each_sort_puts_the_most_pressing_first() -> None:
    def order(sort: str) -> list[object]:
        return [r["patient_id"] for r in page(rows(), sort, 10, None)[0]]
    assert order("next_contact_due") == ["p2", "p3", "p0", "p1"]
    assert order("phq9_latest") == ["p0", "p2", "p3", "p1"]
    assert order("flags") == ["p1", "p3", "p0", "p2"]
    assert set(SORTS) >= {"next_contact_due", "phq9_latest", "flags", "case_review_due"}


def test_pages_follow_each_other_through_the_cursor() -> None:
    for sort in SORTS:
        seen: list[object] = []
        after = None
        for _ in range(5):
            shown, cursor = page(rows(), sort, 3, after)
            seen += [r["patient_id"] for r in shown]
            if cursor is None:
                break
            after = decode_cursor(sort, cursor)
        assert seen == [r["patient_id"] for r in page(rows(), sort, 10, None)[0]], sort


def test_a_bad_cursor_or_one_of_another_sort_is_refused() -> None:
    cursor = encode_cursor("flags", sort_key("flags", rows()[0]))
    with pytest.raises(BadCursor):
        decode_cursor("phq9_latest", cursor)
    with pytest.raises(BadCursor):
        decode_cursor("flags", "not-a-cursor")
