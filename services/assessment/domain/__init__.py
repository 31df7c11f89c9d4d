"""Pure domain of the assessment service: instruments, events, commands and the decider."""

from .commands import (
    Command,
    EnrollPatient,
    ErasePatientIdentity,
    RecordAssessment,
    RecordLifeEvent,
    UpdatePatientPreferences,
)
from .events import (
    ASSESSMENT_EVENT_TYPES,
    AssessmentEvent,
    AssessmentRecorded,
    LifeCircumstanceChanged,
    PatientEnrolled,
    PatientIdentityErased,
    PatientPreferences,
    PatientPreferencesUpdated,
)
from .instruments import INSTRUMENT_CODES, INSTRUMENTS, Instrument, Score, get_instrument, score
from .model import INITIAL_STATE, Enrolled, Erased, NotEnrolled, PatientRecord, age_band, decide, evolve
from .vocabulary import LIFE_EVENT_CATEGORIES, LIFE_EVENT_DIRECTIONS, LIFE_EVENT_IMPACTS

__all__ = [
    "ASSESSMENT_EVENT_TYPES",
    "INITIAL_STATE",
    "INSTRUMENTS",
    "INSTRUMENT_CODES",
    "LIFE_EVENT_CATEGORIES",
    "LIFE_EVENT_DIRECTIONS",
    "LIFE_EVENT_IMPACTS",
    "AssessmentEvent",
    "AssessmentRecorded",
    "Command",
    "EnrollPatient",
    "Enrolled",
    "ErasePatientIdentity",
    "Erased",
    "Instrument",
    "LifeCircumstanceChanged",
    "NotEnrolled",
    "PatientEnrolled",
    "PatientIdentityErased",
    "PatientPreferences",
    "PatientPreferencesUpdated",
    "PatientRecord",
    "RecordAssessment",
    "RecordLifeEvent",
    "Score",
    "UpdatePatientPreferences",
    "age_band",
    "decide",
    "evolve",
    "get_instrument",
    "score",
]
