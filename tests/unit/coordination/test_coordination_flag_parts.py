"""The flag service's pure parts: the worklist query and its cursor, the acknowledgement's
decision, and the flag events (coded fields only)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.coordination.flagging.acknowledge import Acknowledge, decide_acknowledgement
from services.coordination.flagging.events import change_envelopes, flag_stream
from services.coordination.flagging.history import feeds_rules
from services.coordination.flagging.model import Acknowledgement, StoredFlag, flag_json
from services.coordination.flagging.reconcile import Change
from services.coordination.sql import compiled
from services.coordination.worklist_query import BadCursor, WorklistCursor, WorklistPage, next_cursor, worklist_query
from shared.errors import Conflict, NotFound

from .builders import envelope
from .flag_histories import every_rule

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

FLAG = StoredFlag(flag_id="f-1", rule_id="safety", rule_version="1+thresholds.2026.1", patient_id="p-1",
                  clinic_id="clinic-a", severity="urgent", status="open", raised_at=T, resolved_at=None,
                  thresholds={"min_item_score": 1}, evidence=("e-1",), explanation="PHQ-9 item 9 = 2 on 2026-03-02")


def test_a_worklist_cursor_reads_back_and_a_foreign_one_is_refused() -> None:
    cursor = WorklistCursor(3, T, "f-1")
    assert WorklistCursor.decode(cursor.encode()) == cursor
    for text in ("", "abc", "WzEsMiwzXQ", WorklistCursor(3, T.replace(tzinfo=None), "f").encode()):
        with pytest.raises(BadCursor):
            WorklistCursor.decode(text)


def test_the_worklist_orders_most_severe_first_then_oldest_and_takes_only_the_filters_given() -> None:
    sql, args = compiled(worklist_query(WorklistPage(clinics=("clinic-a",), statuses=(), limit=10)))
    assert "ORDER BY flags.severity_rank DESC, flags.raised_at, flags.flag_id" in sql
    assert "status" not in sql.split("WHERE")[1].split("ORDER")[0] and args == [["clinic-a"], 11]
    page = WorklistPage(clinics=("clinic-a", "clinic-b"), severities=("urgent",), rules=("safety",),
                        after=WorklistCursor(2, T, "f-9"), limit=5)
    sql, args = compiled(worklist_query(page))
    assert args == [["clinic-a", "clinic-b"], ["open", "acknowledged"], ["urgent"], ["safety"], 2, T, "f-9", 6]
    rows = [{"severity_rank": 3 - n // 2, "raised_at": T + timedelta(days=n), "flag_id": f"f-{n}"} for n in range(6)]
    assert WorklistCursor.decode(next_cursor(rows, 5) or "") == WorklistCursor(1, T + timedelta(days=4), "f-4")
    assert next_cursor(rows[:5], 5) is None


def command(clinics: frozenset[str] = frozenset({"clinic-a"})) -> Acknowledge:
    return Acknowledge(flag_id="f-1", reason="action_planned", note="call her Monday", staff_id="staff-2",
                       clinics=clinics)


def test_an_acknowledgement_keeps_the_flag_and_names_who_and_why() -> None:
    flag = decide_acknowledgement(FLAG, command(), T + timedelta(hours=1))
    assert (flag.status, flag.acknowledgement) == ("acknowledged", Acknowledgement(
        "action_planned", "staff-2", T + timedelta(hours=1)))
    body = flag_json(flag)
    assert (body["acknowledged_by"], body["ack_reason"], body["resolved_at"]) == ("staff-2", "action_planned", None)
    assert "call her" not in repr(body), "the note is not part of the flag"


def test_another_clinics_flag_is_refused_like_a_missing_one_and_a_resolved_or_acknowledged_one_conflicts() -> None:
    with pytest.raises(NotFound) as missing:
        decide_acknowledgement(None, command(), T)
    with pytest.raises(NotFound) as elsewhere:
        decide_acknowledgement(FLAG, command(frozenset({"clinic-b"})), T)
    assert str(missing.value) == str(elsewhere.value)
    with pytest.raises(Conflict):
        decide_acknowledgement(replace(FLAG, status="resolved", resolved_at=T), command(), T)
    with pytest.raises(Conflict):
        decide_acknowledgement(decide_acknowledgement(FLAG, command(), T), command(), T)


def test_flag_events_carry_coded_fields_in_event_time_on_the_patients_flag_stream() -> None:
    resolved = replace(FLAG, status="resolved", resolved_at=T + timedelta(days=3), withdrawn=True)
    raised, gone = change_envelopes("p-1", [Change("raised", FLAG), Change("resolved", resolved)], None)
    assert (raised.type, raised.time, raised.stream_id, raised.subject, raised.clinic_id) == (
        "carecoord.coordination.RiskFlagRaised.v1", T, flag_stream("p-1"), "p-1", "clinic-a")
    assert (gone.type, gone.time, gone.payload["withdrawn"], gone.payload["resolved_at"]) == (
        "carecoord.coordination.RiskFlagResolved.v1", T + timedelta(days=3), True, "2026-03-05T09:00:00Z")
    assert set(raised.payload) == {"occurred_at", "patient_id", "flag_id", "rule_id", "rule_version", "severity",
                                   "raised_at", "thresholds", "evidence", "explanation"}


def test_only_events_the_rules_read_make_a_patient_be_evaluated_again() -> None:
    c = every_rule()
    assert all(feeds_rules(e) for e in c.events), "every event of this history feeds some rule"
    ignored = [envelope("therapy", "SessionScheduled", {"episode_id": "e", "session_id": "s",
                                                        "scheduled_at": T.isoformat()}),
               envelope("assessment", "PatientEnrolled", {"clinic_id": "clinic-a"}),
               envelope("assessment", "PatientPreferencesUpdated", {"preferences": {}}),
               envelope("pharmacy", "SomethingNew", {"medication_id": "m"})]
    assert not any(feeds_rules(e) for e in ignored)
