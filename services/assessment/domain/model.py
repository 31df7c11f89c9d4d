"""The patient assessment record as a decider: ``decide(state, command)`` and ``evolve``.

Both functions are pure (no clock, no I/O) so that the same history always yields the
same state and the same refusals, live and in a replay. Times come from the command.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import assert_never, cast

from shared.domain import require_aware, require_one_of
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
    AssessmentEvent,
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
class NotEnrolled:
    """No enrollment in this stream yet."""


@dataclass(frozen=True)
class Enrolled:
    """An open record: what the decider needs to refuse duplicates and no-op updates."""

    patient_id: str
    clinic_id: str
    preferences: PatientPreferences
    assessment_ids: frozenset[str] = frozenset()
    life_event_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Erased:
    """Identity erased: the record is closed and answers like an unknown one."""

    patient_id: str


PatientRecord = NotEnrolled | Enrolled | Erased

INITIAL_STATE: PatientRecord = NotEnrolled()


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


def _open_record(state: PatientRecord) -> Enrolled:
    """An erased record answers like an unknown one: its existence is no longer disclosed."""
    match state:
        case Enrolled():
            return state
        case NotEnrolled() | Erased():
            raise NotFound("patient not found", field="patient_id")
        case _:
            assert_never(state)


def _enroll(state: PatientRecord, command: EnrollPatient) -> list[DomainEvent]:
    match state:
        case NotEnrolled():
            return _new_record(command)
        case Enrolled() | Erased():
            raise Conflict("patient is already enrolled", field="patient_id")
        case _:
            assert_never(state)


def _new_record(command: EnrollPatient) -> list[DomainEvent]:
    require_aware(command.enrolled_at, "enrolled_at")
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
    record = _open_record(state)
    require_aware(command.administered_at, "administered_at")
    result = score(command.instrument, command.item_scores, command.client_total)
    if command.assessment_id in record.assessment_ids:
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
    record = _open_record(state)
    require_aware(command.occurred_at, "occurred_at")
    require_one_of(command.category, LIFE_EVENT_CATEGORIES, "category")
    require_one_of(command.direction, LIFE_EVENT_DIRECTIONS, "direction")
    require_one_of(command.impact, LIFE_EVENT_IMPACTS, "impact")
    if command.life_event_id in record.life_event_ids:
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
    record = _open_record(state)
    require_aware(command.updated_at, "updated_at")
    if command.preferences == record.preferences:
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
    match state:
        case NotEnrolled():
            raise NotFound("patient not found", field="patient_id")
        case Enrolled():
            require_aware(command.erased_at, "erased_at")
            return [PatientIdentityErased(patient_id=command.patient_id, occurred_at=command.erased_at)]
        case Erased():
            require_aware(command.erased_at, "erased_at")
            return []
        case _:
            assert_never(state)


def decide(state: PatientRecord, command: Command) -> list[DomainEvent]:
    """The events a command produces on this record, or a DomainError refusing it."""
    # The type checker closes the match below; a caller that slips past it gets a TypeError.
    if not isinstance(command, Command):
        raise TypeError(f"unsupported command: {type(command).__name__}")
    match command:
        case EnrollPatient():
            return _enroll(state, command)
        case RecordAssessment():
            return _record_assessment(state, command)
        case RecordLifeEvent():
            return _record_life_event(state, command)
        case UpdatePatientPreferences():
            return _update_preferences(state, command)
        case ErasePatientIdentity():
            return _erase_identity(state, command)
        case _:
            assert_never(command)


def evolve(state: PatientRecord, event: DomainEvent) -> PatientRecord:
    """Apply one recorded event. Never refuses: recorded history is a fact.

    An event that does not fit the stage (an assessment before enrollment, say) cannot have
    been decided; it leaves the state as it is rather than making the stream unreadable.
    """
    # The shell decodes events as DomainEvent; another service's event here is a wiring error.
    if not isinstance(event, AssessmentEvent):
        raise TypeError(f"unsupported event: {type(event).__name__}")
    match state:
        case NotEnrolled():
            return _evolve_not_enrolled(state, event)
        case Enrolled():
            return _evolve_enrolled(state, event)
        case Erased():
            return _evolve_erased(state, event)
        case _:
            assert_never(state)


def _evolve_not_enrolled(state: NotEnrolled, event: AssessmentEvent) -> PatientRecord:
    match event:
        case PatientEnrolled():
            return Enrolled(patient_id=event.patient_id, clinic_id=event.clinic_id, preferences=event.preferences)
        case (AssessmentRecorded() | LifeCircumstanceChanged() | PatientPreferencesUpdated()
              | PatientIdentityErased()):
            return state
        case _:
            assert_never(event)


def _evolve_enrolled(state: Enrolled, event: AssessmentEvent) -> PatientRecord:
    match event:
        case AssessmentRecorded():
            return replace(state, assessment_ids=state.assessment_ids | {event.assessment_id})
        case LifeCircumstanceChanged():
            return replace(state, life_event_ids=state.life_event_ids | {event.life_event_id})
        case PatientPreferencesUpdated():
            return replace(state, preferences=event.preferences)
        case PatientIdentityErased():
            return Erased(patient_id=state.patient_id)
        case PatientEnrolled():
            return state
        case _:
            assert_never(event)


def _evolve_erased(state: Erased, event: AssessmentEvent) -> PatientRecord:
    """Closed for good: nothing recorded after the erasure reopens the record."""
    match event:
        case (PatientEnrolled() | AssessmentRecorded() | LifeCircumstanceChanged() | PatientPreferencesUpdated()
              | PatientIdentityErased()):
            return state
        case _:
            assert_never(event)
