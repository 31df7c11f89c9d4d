"""As of a moment: the summary folded from the timeline entries recorded by then is the one the
projection held then, and the flags are those the history then known implies (a backdated
event counts only from when it was recorded)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from services.coordination.audit.asof import flags_as_of, open_first, summary_as_of
from services.coordination.flagging.model import Acknowledgement
from services.coordination.handlers import registry
from services.coordination.projection.batch import TimelineRow, project
from services.coordination.projection.facts import read
from services.coordination.projection.state import PatientSummary
from services.coordination.rules import load_config
from shared.envelope import Envelope
from tests.unit.coordination.builders import PATIENT, day
from tests.unit.coordination.flag_histories import every_rule

RULES = load_config().for_clinic("clinic-a")


def stored(row: TimelineRow) -> dict[str, Any]:
    """The row as ``timeline_entries`` gives it back (data as JSON text)."""
    return {"event_id": row.event_id, "patient_id": row.patient_id, "clinic_id": row.clinic_id,
            "occurred_at": row.occurred_at, "recorded_at": row.recorded_at, "service": row.service,
            "type": row.type, "stream_id": row.stream_id, "sequence": row.sequence, "data": json.dumps(row.data)}


def live(events: list[Envelope]) -> tuple[list[dict[str, Any]], PatientSummary]:
    """What the projection writes for ``events`` arriving in recorded order."""
    arriving = sorted(events, key=lambda e: (e.recorded_at, e.stream_id, e.stream_version))
    rows, summaries = project({}, [read(e, registry()) for e in arriving])
    return [stored(r) for r in rows], summaries[PATIENT]


def test_the_summary_from_every_entry_is_the_live_one() -> None:
    rows, summary = live(every_rule().events)
    assert summary_as_of(rows, PATIENT, "clinic-a", registry()) == summary
    assert summary_as_of(list(reversed(rows)), PATIENT, "clinic-a", registry()) == summary


def test_the_summary_as_of_a_moment_is_the_one_the_projection_held_then() -> None:
    events = every_rule().events
    rows, _ = live(events)
    for moment in (day(5), day(12.5), day(30), day(64)):
        _, then = live([e for e in events if e.recorded_at is not None and e.recorded_at <= moment])
        assert summary_as_of([r for r in rows if r["recorded_at"] <= moment], PATIENT, "clinic-a",
                             registry()) == then


def test_a_backdated_increase_raises_rapid_titration_only_once_recorded() -> None:
    rows, _ = live(every_rule().events)  # the increase of day 12 was recorded on day 15
    def rules_at(moment: Any) -> set[str]:
        known = [r for r in rows if r["recorded_at"] <= moment]
        return {f.rule_id for f in flags_as_of(known, moment, RULES, PATIENT, "clinic-a", {})}
    assert "rapid_titration" not in rules_at(day(14))
    assert "rapid_titration" in rules_at(day(15) + timedelta(minutes=6))


def test_an_acknowledgement_counts_from_its_own_moment() -> None:
    rows, _ = live(every_rule().events)
    moment = day(41)
    flags = flags_as_of(rows, moment, RULES, PATIENT, "clinic-a", {})
    safety = next(f for f in flags if f.rule_id == "safety")
    ack = {safety.flag_id: Acknowledgement("reviewed_no_action", "staff-9", day(40.5))}
    later = {safety.flag_id: Acknowledgement("reviewed_no_action", "staff-9", day(42))}
    assert next(f for f in flags_as_of(rows, moment, RULES, PATIENT, "clinic-a", ack)
                if f.flag_id == safety.flag_id).status == "acknowledged"
    assert next(f for f in flags_as_of(rows, moment, RULES, PATIENT, "clinic-a", later)
                if f.flag_id == safety.flag_id).status == "open"
    ranked = open_first(flags_as_of(rows, moment, RULES, PATIENT, "clinic-a", ack))
    assert ranked[0].rule_id == "safety" and all(f.unresolved for f in ranked)
