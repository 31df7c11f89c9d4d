"""The medication course as a decider: ``decide(state, command, formulary)``.

Pure: no clock, no I/O. The formulary is passed in (the shell loads it once), so the same
history, command and formulary always give the same events or the same refusal. Refusals
are ``NotFound`` (no such course for this patient), ``Conflict`` (not possible in the
course's current state) and ``RuleViolation`` (bad input or a clinical rule).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, assert_never

from services.pharmacy.formulary import CodeSystem, FormularyEntry
from shared.domain import require_aware
from shared.errors import Conflict, NotFound, RuleViolation
from shared.events import DomainEvent

from . import rules
from .commands import (
    AdjustDose,
    Command,
    DiscontinueMedication,
    ReportAdverseEffect,
    StartMedication,
)
from .dosing import daily_dose, direction_of_change
from .events import AdverseEffectReported, DoseAdjusted, MedicationDiscontinued, MedicationStarted
from .state import Active, CourseState, Discontinued, NotStarted, StartedCourse
from .values import DrugRef, FormularySnapshot, MaxDailyDose
from .vocabulary import ADVERSE_EFFECTS, DISCONTINUATION_REASONS, DOSE_CHANGE_REASONS, OVERRIDE_REASONS


class FormularyView(Protocol):
    """The part of a formulary the decider reads."""

    @property
    def version(self) -> str: ...

    def lookup(self, code: str, system: CodeSystem) -> FormularyEntry | None: ...


def snapshot(formulary: FormularyView, drug: DrugRef) -> FormularySnapshot:
    """What the formulary says about ``drug`` now, in the form kept in the event."""
    return _snapshot(formulary.version, formulary.lookup(drug.code, drug.system), drug)


def _snapshot(version: str, entry: FormularyEntry | None, drug: DrugRef) -> FormularySnapshot:
    if entry is None:
        atc = drug.code.strip().upper() if drug.system == "ATC" else None
        return FormularySnapshot(
            version=version,
            known=False,
            atc=atc,
            therapeutic_class=atc[:5] if atc else None,
        )
    limit = entry.max_daily_dose
    return FormularySnapshot(
        version=version,
        known=True,
        atc=entry.atc,
        therapeutic_class=entry.therapeutic_class.code,
        opioid=entry.flags.opioid,
        benzodiazepine=entry.flags.benzodiazepine,
        serotonergic=entry.flags.serotonergic,
        qt_prolonging=entry.flags.qt_prolonging,
        cns_depressant=entry.flags.cns_depressant,
        max_daily_dose=MaxDailyDose(value=limit.value) if limit is not None else None,
    )


def _course(state: CourseState, patient_id: str, medication_id: str) -> StartedCourse:
    """The started course, or NotFound: a course of another patient is not disclosed."""
    match state:
        case Active() | Discontinued() if (
            state.prescription.patient_id == patient_id and state.prescription.medication_id == medication_id
        ):
            return state
        case NotStarted() | Active() | Discontinued():
            raise NotFound("medication course not found", field="medication_id")
        case _:
            assert_never(state)


def _open_course(state: CourseState, patient_id: str, medication_id: str) -> Active:
    match course := _course(state, patient_id, medication_id):
        case Active():
            return course
        case Discontinued():
            raise Conflict("the medication course is discontinued", field="medication_id")
        case _:
            assert_never(course)


def _start(state: CourseState, command: StartMedication, formulary: FormularyView) -> list[DomainEvent]:
    match state:
        case NotStarted():
            return _new_course(command, formulary)
        case Active() | Discontinued():
            raise Conflict("the medication course already exists", field="medication_id")
        case _:
            assert_never(state)


def _new_course(command: StartMedication, formulary: FormularyView) -> list[DomainEvent]:
    rules.require_text(command.patient_id, "patient_id")
    rules.require_text(command.medication_id, "medication_id")
    rules.require_drug(command.drug)
    rules.require_dose(command.dose)
    rules.require_unit(command.unit)
    rules.require_schedule(command.schedule)
    route = rules.require_text(command.route, "route")
    require_aware(command.started_at, "started_at")
    prescriber_id = rules.require_text(command.prescriber_id, "prescriber_id")
    override_reason = rules.optional_code(command.override_reason, OVERRIDE_REASONS, "override_reason")
    entry = formulary.lookup(command.drug.code, command.drug.system)
    # The formulary's name for a code it knows, none for one it does not: never the client's
    # words, which would reach Kafka and stay there.
    drug = DrugRef(code=command.drug.code, system=command.drug.system, name=entry.name if entry else None)
    rules.require_within_daily_maximum(
        daily_dose(command.dose, command.schedule),
        command.unit,
        entry,
        formulary_version=formulary.version,
        override_reason=override_reason,
    )
    return [
        MedicationStarted(
            patient_id=command.patient_id,
            medication_id=command.medication_id,
            drug=drug,
            dose=command.dose,
            unit=command.unit,
            schedule=command.schedule,
            route=route,
            indication=command.indication,
            prescriber_id=prescriber_id,
            formulary=_snapshot(formulary.version, entry, command.drug),
            override_reason=override_reason,
            occurred_at=command.started_at,
        )
    ]


def _require_effective_time(moment: datetime, course: Active) -> None:
    """A change cannot predate the start or the last dose change: previous_dose would lie."""
    require_aware(moment, "effective_at")
    rules.require_not_before(moment, course.prescription.started_at, "effective_at", "the course start")
    rules.require_not_before(moment, course.last_dose_change_at, "effective_at", "the latest dose change")


def _adjust(state: CourseState, command: AdjustDose, formulary: FormularyView) -> list[DomainEvent]:
    course = _open_course(state, command.patient_id, command.medication_id)
    prescription = course.prescription
    _require_effective_time(command.effective_at, course)
    rules.require_dose(command.dose)
    rules.require_unit(command.unit)
    reason = rules.require_code(command.reason, DOSE_CHANGE_REASONS, "reason")
    prescriber_id = rules.require_text(command.prescriber_id, "prescriber_id")
    override_reason = rules.optional_code(command.override_reason, OVERRIDE_REASONS, "override_reason")
    direction = direction_of_change(prescription.dose, prescription.unit, command.dose, command.unit)
    if direction is None:
        raise RuleViolation("the new dose equals the current dose", field="dose")
    daily = daily_dose(command.dose, prescription.schedule)
    rules.require_within_daily_maximum(
        daily,
        command.unit,
        formulary.lookup(prescription.drug.code, prescription.drug.system),
        formulary_version=formulary.version,
        override_reason=override_reason,
    )
    return [
        DoseAdjusted(
            patient_id=command.patient_id,
            medication_id=command.medication_id,
            previous_dose=prescription.dose,
            dose=command.dose,
            unit=command.unit,
            direction=direction,
            reason=reason,
            prescriber_id=prescriber_id,
            daily_dose=daily,
            override_reason=override_reason,
            occurred_at=command.effective_at,
        )
    ]


def _discontinue(state: CourseState, command: DiscontinueMedication) -> list[DomainEvent]:
    match course := _course(state, command.patient_id, command.medication_id):
        case Discontinued():
            raise Conflict("the medication course is already discontinued", field="medication_id")
        case Active():
            _require_effective_time(command.effective_at, course)
        case _:
            assert_never(course)
    return [
        MedicationDiscontinued(
            patient_id=command.patient_id,
            medication_id=command.medication_id,
            reason=rules.require_code(command.reason, DISCONTINUATION_REASONS, "reason"),
            prescriber_id=rules.require_text(command.prescriber_id, "prescriber_id"),
            occurred_at=command.effective_at,
        )
    ]


def _report(state: CourseState, command: ReportAdverseEffect) -> list[DomainEvent]:
    # A stopped course still takes reports: discontinuation and withdrawal effects (an SSRI
    # stopped too fast, say) surface after the stop and belong to that course.
    course = _course(state, command.patient_id, command.medication_id)
    require_aware(command.observed_at, "observed_at")
    started_at = course.prescription.started_at
    rules.require_not_before(command.observed_at, started_at, "observed_at", "the course start")
    return [
        AdverseEffectReported(
            patient_id=command.patient_id,
            medication_id=command.medication_id,
            effect=rules.require_code(command.effect, ADVERSE_EFFECTS, "effect"),
            severity=rules.require_severity(command.severity),
            reporter_id=rules.require_text(command.reporter_id, "reporter_id"),
            occurred_at=command.observed_at,
        )
    ]


def decide(state: CourseState, command: Command, formulary: FormularyView) -> list[DomainEvent]:
    """The events a command produces on this course, or a DomainError refusing it."""
    # The type checker closes the match below; a caller that slips past it gets a TypeError.
    if not isinstance(command, Command):
        raise TypeError(f"unsupported command: {type(command).__name__}")
    match command:
        case StartMedication():
            return _start(state, command, formulary)
        case AdjustDose():
            return _adjust(state, command, formulary)
        case DiscontinueMedication():
            return _discontinue(state, command)
        case ReportAdverseEffect():
            return _report(state, command)
        case _:
            assert_never(command)
