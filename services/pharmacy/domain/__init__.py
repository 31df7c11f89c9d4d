"""Pure domain of the pharmacy service: one medication course as a decider.

``decide(state, command, formulary)`` returns events or refuses with a DomainError;
``evolve`` folds events into a :data:`CourseState` (``NotStarted | Active | Discontinued``).
Nothing here reads a clock, a file, a database or a topic.
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
from .state import (
    INITIAL_STATE,
    Active,
    CourseState,
    Discontinued,
    NotStarted,
    Prescription,
    StartedCourse,
    evolve,
)
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
from .vocabulary import (
    ADVERSE_EFFECTS,
    DISCONTINUATION_REASONS,
    DOSE_CHANGE_REASONS,
    MAX_NOTE_LENGTH,
    OVERRIDE_REASONS,
    AdverseEffect,
    DiscontinuationReason,
    DoseChangeReason,
    Indication,
    OverrideReason,
)

__all__ = [
    "ADVERSE_EFFECTS",
    "ALLOWED_UNITS",
    "DISCONTINUATION_REASONS",
    "DOSE_CHANGE_REASONS",
    "INITIAL_STATE",
    "MAX_NOTE_LENGTH",
    "MAX_TEXT_LENGTH",
    "MG_PER_UNIT",
    "OVERRIDE_REASONS",
    "PHARMACY_EVENT_TYPES",
    "SEVERITIES",
    "Active",
    "AdjustDose",
    "AdverseEffect",
    "AdverseEffectReported",
    "Command",
    "CourseState",
    "CourseStatus",
    "Direction",
    "DiscontinuationReason",
    "DiscontinueMedication",
    "Discontinued",
    "DoseAdjusted",
    "DoseChangeReason",
    "DrugRef",
    "FormularySnapshot",
    "FormularyView",
    "Indication",
    "MaxDailyDose",
    "MedicationDiscontinued",
    "MedicationStarted",
    "NotStarted",
    "OverrideReason",
    "PharmacyEvent",
    "Prescription",
    "ReportAdverseEffect",
    "Schedule",
    "Severity",
    "StartMedication",
    "StartedCourse",
    "daily_dose",
    "decide",
    "direction_of_change",
    "doses_per_day",
    "evolve",
    "snapshot",
    "to_mg",
]
