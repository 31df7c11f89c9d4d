"""The patient assessment record as a decider: ``decide(state, command)`` and ``evolve``.

Both functions are pure (no clock, no I/O) so that the same history always yields the
same state and the same refusals, live and in a replay. Times come from the command.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import cast

from shared.errors import Conflict, NotFound, RuleViolation
from shared.events import DomainEvent

from .commands import (
    Command,
    EnrollPatient,
    ErasePatientIdentity,
    RecordAssessment,
    RecordLifeEvent,
    UpdatePatientPreferences,
)
from .events import (
    AssessmentRecorded,
    LifeCircumstanceChanged,
    PatientEnrolled,
    PatientIdentityErased,
    PatientPreferences,
    PatientPreferencesUpdated,
)
from .instruments import score
from .vocabulary import (
    AGE_BAND_WIDTH,
    LIFE_EVENT_CATEGORIES,
    LIFE_EVENT_DIRECTIONS,
    LIFE_EVENT_IMPACTS,
    OLDEST_AGE_BAND_START,
    LifeEventCategory,
    LifeEventDirection,
    LifeEventImpact,
)


@dataclass(frozen=True)
class PatientRecord:
    """What the decider needs to know about one patient's stream, nothing more."""

    patient_id: str | None = None
    enrolled: bool = False
    clinic_id: str | None = None
    erased: bool = False
    preferences: PatientPreferences | None = None
    assessment_count: int = 0
    assessment_ids: frozenset[str] = frozenset()
    life_event_ids: frozenset[str] = frozenset()


INITIAL_STATE = PatientRecord()


def age_band(birth_date: date, on: date) -> str:
    """Decade band ("30-39", "80+") of the age reached on ``on``.

    Rules and dashboards need an age group, not a birth date, which would identify the
    patient together with the clinic.
    """
    if birth_date > on:
        raise RuleViolation("must not be after the enrollment date", field="birth_date")
    had_birthday = (on.month, on.day) >= (birth_date.month, birth_date.day)
    age = on.year - birth_date.year - (0 if had_birthday else 1)
    if age >= OLDEST_AGE_BAND_START:
        return f"{OLDEST_AGE_BAND_START}+"
    lower = age - age % AGE_BAND_WIDTH
    return f"{lower}-{lower + AGE_BAND_WIDTH - 1}"


def _require_time_zone(moment: datetime, field: str) -> None:
    """A naive clinical time is ambiguous by hours, enough to misorder a timeline."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RuleViolation("must include a time zone", field=field)


def _require_one_of(value: str, allowed: tuple[str, ...], field: str) -> None:
    if value not in allowed:
        raise RuleViolation(f"must be one of: {', '.join(allowed)}", field=field)


def _require_open_record(state: PatientRecord) -> None:
    """An erased record answers like an unknown one: its existence is no longer disclosed."""
    if not state.enrolled or state.erased:
        raise NotFound("patient not found", field="patient_id")


def _enroll(state: PatientRecord, command: EnrollPatient) -> list[DomainEvent]:
    if state.enrolled:
        raise Conflict("patient is already enrolled", field="patient_id")
    _require_time_zone(command.enrolled_at, "enrolled_at")
    band = age_band(command.birth_date, command.enrolled_at.date())
    return [
        PatientEnrolled(
            patient_id=command.patient_id,
            clinic_id=command.clinic_id,
            age_band=band,
            preferences=command.preferences,
            occurred_at=command.enrolled_at,
        )
    ]


def _record_assessment(state: PatientRecord, command: RecordAssessment) -> list[DomainEvent]:
    _require_open_record(state)
    _require_time_zone(command.administered_at, "administered_at")
    result = score(command.instrument, command.item_scores, command.client_total)
    if command.assessment_id in state.assessment_ids:
        raise Conflict("assessment already recorded", field="assessment_id")
    return [
        AssessmentRecorded(
            patient_id=command.patient_id,
            assessment_id=command.assessment_id,
            instrument=result.instrument,
            item_scores=list(result.item_scores),
            total=result.total,
            band=result.band,
            max_total=result.max_total,
            loinc=result.loinc,
            safety_item_positive=result.safety_item_positive,
            occurred_at=command.administered_at,
        )
    ]


def _record_life_event(state: PatientRecord, command: RecordLifeEvent) -> list[DomainEvent]:
    _require_open_record(state)
    _require_time_zone(command.occurred_at, "occurred_at")
    _require_one_of(command.category, LIFE_EVENT_CATEGORIES, "category")
    _require_one_of(command.direction, LIFE_EVENT_DIRECTIONS, "direction")
    _require_one_of(command.impact, LIFE_EVENT_IMPACTS, "impact")
    if command.life_event_id in state.life_event_ids:
        raise Conflict("life event already recorded", field="life_event_id")
    return [
        LifeCircumstanceChanged(
            patient_id=command.patient_id,
            life_event_id=command.life_event_id,
            category=cast(LifeEventCategory, command.category),
            direction=cast(LifeEventDirection, command.direction),
            impact=cast(LifeEventImpact, command.impact),
            occurred_at=command.occurred_at,
        )
    ]


def _update_preferences(
    state: PatientRecord, command: UpdatePatientPreferences
) -> list[DomainEvent]:
    """Unchanged preferences produce no event, so a resubmitted form does not add noise."""
    _require_open_record(state)
    _require_time_zone(command.updated_at, "updated_at")
    if command.preferences == state.preferences:
        return []
    return [
        PatientPreferencesUpdated(
            patient_id=command.patient_id,
            preferences=command.preferences,
            occurred_at=command.updated_at,
        )
    ]


def _erase_identity(state: PatientRecord, command: ErasePatientIdentity) -> list[DomainEvent]:
    """Erasure is idempotent: a repeated request must succeed, not reveal anything."""
    if not state.enrolled:
        raise NotFound("patient not found", field="patient_id")
    _require_time_zone(command.erased_at, "erased_at")
    if state.erased:
        return []
    return [PatientIdentityErased(patient_id=command.patient_id, occurred_at=command.erased_at)]


def decide(state: PatientRecord, command: Command) -> list[DomainEvent]:
    """The events a command produces on this record, or a DomainError refusing it."""
    if isinstance(command, EnrollPatient):
        return _enroll(state, command)
    if isinstance(command, RecordAssessment):
        return _record_assessment(state, command)
    if isinstance(command, RecordLifeEvent):
        return _record_life_event(state, command)
    if isinstance(command, UpdatePatientPreferences):
        return _update_preferences(state, command)
    if isinstance(command, ErasePatientIdentity):
        return _erase_identity(state, command)
    raise TypeError(f"unsupported command: {type(command).__name__}")


def evolve(state: PatientRecord, event: DomainEvent) -> PatientRecord:
    """Apply one recorded event. Never refuses: recorded history is a fact."""
    if isinstance(event, PatientEnrolled):
        return replace(
            state,
            patient_id=event.patient_id,
            enrolled=True,
            clinic_id=event.clinic_id,
            preferences=event.preferences,
        )
    if isinstance(event, AssessmentRecorded):
        return replace(
            state,
            assessment_count=state.assessment_count + 1,
            assessment_ids=state.assessment_ids | {event.assessment_id},
        )
    if isinstance(event, LifeCircumstanceChanged):
        return replace(state, life_event_ids=state.life_event_ids | {event.life_event_id})
    if isinstance(event, PatientPreferencesUpdated):
        return replace(state, preferences=event.preferences)
    if isinstance(event, PatientIdentityErased):
        return replace(state, erased=True)
    raise TypeError(f"unsupported event: {type(event).__name__}")


def replay(events: Iterable[DomainEvent], state: PatientRecord = INITIAL_STATE) -> PatientRecord:
    """Fold a stream's history into the state ``decide`` works on."""
    for event in events:
        state = evolve(state, event)
    return state
