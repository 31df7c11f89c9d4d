"""Events of one medication course (stream: one course, keyed by ``medication_id``).

``occurred_at`` is clinical time taken from the command (start, effective or observation
time), never the time the system learned of it; the envelope adds ``recorded_at``.
Payloads carry pseudonymous ids and codes only: reasons, overrides and adverse effects are
codes (``vocabulary``), the indication an ICD-10 code, the drug's name the formulary's. Kafka
keeps every event for ever, so free text (which may name a person) stays out of them; the
notes a user writes beside a code live in the service's database (``notes``), erasable.
Version 2 of four events replaced v1's free text; ``upcasts`` reads v1 as v2.
"""

from __future__ import annotations

from typing import ClassVar

from shared.events import DomainEvent

from .values import Direction, DrugRef, FormularySnapshot, Schedule, Severity
from .vocabulary import AdverseEffect, DiscontinuationReason, DoseChangeReason, Indication, OverrideReason


class MedicationStarted(DomainEvent):
    """A prescriber started a drug; ``occurred_at`` is the start time."""

    event_name: ClassVar[str] = "MedicationStarted"
    version: ClassVar[int] = 2

    patient_id: str
    medication_id: str
    drug: DrugRef
    dose: float
    unit: str
    schedule: Schedule
    route: str
    indication: Indication | None
    prescriber_id: str
    formulary: FormularySnapshot
    override_reason: OverrideReason | None = None


class DoseAdjusted(DomainEvent):
    """The dose or its unit changed; ``occurred_at`` is when the new dose takes effect.

    ``daily_dose`` is the new dose times the scheduled (or, as needed, the most allowed)
    doses per day, in ``unit``.
    """

    event_name: ClassVar[str] = "DoseAdjusted"
    version: ClassVar[int] = 2

    patient_id: str
    medication_id: str
    previous_dose: float
    dose: float
    unit: str
    direction: Direction
    reason: DoseChangeReason
    prescriber_id: str
    daily_dose: float
    override_reason: OverrideReason | None = None


class MedicationDiscontinued(DomainEvent):
    """The course was stopped; ``occurred_at`` is when the stop takes effect."""

    event_name: ClassVar[str] = "MedicationDiscontinued"
    version: ClassVar[int] = 2

    patient_id: str
    medication_id: str
    reason: DiscontinuationReason
    prescriber_id: str


class AdverseEffectReported(DomainEvent):
    """Someone in the team observed an adverse effect; ``occurred_at`` is when."""

    event_name: ClassVar[str] = "AdverseEffectReported"
    version: ClassVar[int] = 2

    patient_id: str
    medication_id: str
    effect: AdverseEffect
    severity: Severity
    reporter_id: str


PharmacyEvent = MedicationStarted | DoseAdjusted | MedicationDiscontinued | AdverseEffectReported

PHARMACY_EVENT_TYPES: tuple[type[DomainEvent], ...] = (
    MedicationStarted,
    DoseAdjusted,
    MedicationDiscontinued,
    AdverseEffectReported,
)
