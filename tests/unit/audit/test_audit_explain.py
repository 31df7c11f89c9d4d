"""Why a flag resolved, from the stored flag and the engine's flag of the same id; who reads the note."""

from __future__ import annotations

from dataclasses import replace

from services.coordination.audit.explain import may_read_note, resolution_kind
from services.coordination.flagging.model import StoredFlag
from services.coordination.rules import Flag
from shared.auth import Principal, Role
from tests.unit.coordination.builders import day

OPEN = StoredFlag(flag_id="f-1", rule_id="dangerous_combination", rule_version="1+thresholds.1", patient_id="p-1",
                  clinic_id="clinic-a", severity="high", status="open", raised_at=day(1), resolved_at=None,
                  thresholds={}, evidence=("e-1", "e-2"), explanation="opioid with benzodiazepine")
RESOLVED = replace(OPEN, status="resolved", resolved_at=day(5))
FOUND = Flag(flag_id="f-1", rule_id="dangerous_combination", rule_version="1+thresholds.1", patient_id="p-1",
             severity="high", raised_at=day(1), resolved_at=day(5), thresholds={}, evidence=("e-1", "e-2"),
             explanation="opioid with benzodiazepine", resolved_by="e-3")


def test_resolution_kinds() -> None:
    assert resolution_kind(OPEN, None) is None
    assert resolution_kind(RESOLVED, FOUND) == "event"
    assert resolution_kind(RESOLVED, replace(FOUND, resolved_by=None)) == "time"
    assert resolution_kind(replace(RESOLVED, withdrawn=True), None) == "withdrawn"
    assert resolution_kind(RESOLVED, None) == "time"  # the engine no longer finds it: no event to name


def test_the_note_is_the_care_teams() -> None:
    def who(*roles: Role) -> Principal:
        return Principal("s", frozenset(roles), frozenset({"clinic-a"}))
    assert may_read_note(who(Role.THERAPIST)) and may_read_note(who(Role.AUDITOR, Role.COORDINATOR))
    assert not may_read_note(who(Role.AUDITOR)) and not may_read_note(who(Role.ADMIN))
