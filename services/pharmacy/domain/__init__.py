"""Pure domain of the pharmacy service: one medication course as a decider.

``decide(state, command, formulary)`` returns events or refuses with a DomainError;
``evolve``/``replay`` fold events into :class:`CourseState`. Nothing here reads a clock,
a file, a database or a topic.
"""

from .commands import (
    AdjustDose,
    Command,
    DiscontinueMedication,
    ReportAdverseEffect,
    StartMedication,
)
from .decider import FormularyView, decide, snapshot
from .dosing import daily_dose, direction_of_change, doses_per_day, to_mg
from .events import (
    PHARMACY_EVENT_TYPES,
    AdverseEffectReported,
    DoseAdjusted,
    MedicationDiscontinued,
    MedicationStarted,
    PharmacyEvent,
)
from .state import INITIAL_STATE, CourseState, evolve, replay
from .values import (
    ALLOWED_UNITS,
    MAX_TEXT_LENGTH,
    MG_PER_UNIT,
    SEVERITIES,
    CourseStatus,
    Direction,
    DrugRef,
    FormularySnapshot,
    MaxDailyDose,
    Schedule,
    Severity,
)

__all__ = [
    "ALLOWED_UNITS",
    "INITIAL_STATE",
    "MAX_TEXT_LENGTH",
    "MG_PER_UNIT",
    "PHARMACY_EVENT_TYPES",
    "SEVERITIES",
    "AdjustDose",
    "AdverseEffectReported",
    "Command",
    "CourseState",
    "CourseStatus",
    "Direction",
    "DiscontinueMedication",
    "DoseAdjusted",
    "DrugRef",
    "FormularySnapshot",
    "FormularyView",
    "MaxDailyDose",
    "MedicationDiscontinued",
    "MedicationStarted",
    "PharmacyEvent",
    "ReportAdverseEffect",
    "Schedule",
    "Severity",
    "StartMedication",
    "daily_dose",
    "decide",
    "direction_of_change",
    "doses_per_day",
    "evolve",
    "replay",
    "snapshot",
    "to_mg",
]
