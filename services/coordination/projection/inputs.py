"""What coordination reads from each service's events: coded fields, by name.

Services never import each other, so the payloads of assessment, pharmacy and therapy are
read here through small models of their own that name only the fields coordination uses.
Those fields are all codes, numbers and pseudonymous ids: free text and identity are never
read, so they cannot reach a read model. A payload that lacks a field or gives it the wrong
shape fails validation and the projection runner sets it aside as poison. Events are matched
by service and event name, never by the versioned type string: an older version is first
brought to the newest shape by the producer's own steps (``shared.upcasts``: pharmacy v1's
free-text reasons, effect and indication read as ``other`` or absent), and a newer minor
version with extra fields reads the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, model_validator

Code = Annotated[str, StringConstraints(min_length=1, max_length=100)]
"""A code or id; a long string in a coded field is something else and is refused."""

Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Reader(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# --------------------------------------------------------------------------- assessment


class Preferences(Reader):
    language: Code | None = None
    prefers_non_pharmacological_first: bool = False


class PatientEnrolled(Reader):
    age_band: Code | None = None
    preferences: Preferences = Preferences()


class AssessmentRecorded(Reader):
    assessment_id: Code
    instrument: Code
    item_scores: tuple[int, ...] = ()
    total: int = Field(ge=0)
    band: Code
    max_total: int | None = None
    loinc: Code | None = None
    safety_item_positive: bool = False


class LifeCircumstanceChanged(Reader):
    life_event_id: Code
    category: Code
    direction: Code
    impact: Code


class PatientPreferencesUpdated(Reader):
    preferences: Preferences


class PatientIdentityErased(Reader):
    pass


# --------------------------------------------------------------------------- pharmacy


class Drug(Reader):
    """The drug's code and the name to show: the formulary's (pharmacy puts it on the event
    for a code it knows), else the code itself: pharmacy never publishes a client's words."""

    code: Code
    system: Code
    name: Code

    @model_validator(mode="before")
    @classmethod
    def _code_when_unnamed(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("name"):
            return {**data, "name": f"{data.get('system')} {data.get('code')}"}
        return data

    @property
    def named(self) -> bool:
        """Whether the name is the formulary's (not the code standing in for one)."""
        return self.name != f"{self.system} {self.code}"


class Indication(Reader):
    system: Code
    code: Code


class Schedule(Reader):
    times_per_day: int | None = Field(None, ge=1)
    as_needed: bool = False


class Formulary(Reader):
    """The formulary's view of the drug when it was started (the pharmacy's snapshot)."""

    version: Code | None = None
    known: bool = False
    atc: Code | None = None
    therapeutic_class: Code | None = None
    opioid: bool = False
    benzodiazepine: bool = False
    serotonergic: bool = False
    qt_prolonging: bool = False
    cns_depressant: bool = False


class MedicationStarted(Reader):
    medication_id: Code
    drug: Drug
    dose: Amount
    unit: Code
    schedule: Schedule
    route: Code | None = None
    formulary: Formulary = Formulary()
    indication: Indication | None = None
    override_reason: Code | None = None


class DoseAdjusted(Reader):
    medication_id: Code
    previous_dose: Amount
    dose: Amount
    unit: Code
    direction: Code
    daily_dose: Amount | None = None
    reason: Code = "other"
    override_reason: Code | None = None


class MedicationDiscontinued(Reader):
    medication_id: Code
    reason: Code = "other"


class AdverseEffectReported(Reader):
    medication_id: Code
    severity: Code
    effect: Code = "other"


# --------------------------------------------------------------------------- therapy


class OnEpisode(Reader):
    """Every therapy event names its episode; the rules group sessions, steps and ends by it
    (and read their history from the timeline's data, so it must be kept)."""

    episode_id: Code | None = None


class TherapyEpisodeStarted(OnEpisode):
    modality: Code
    care_step: int = Field(ge=1, le=10)
    setting: Code | None = None


class SessionScheduled(OnEpisode):
    session_id: Code
    scheduled_at: datetime | None = None


class SessionCompleted(OnEpisode):
    session_id: Code
    duration_min: int = Field(ge=0)
    techniques: tuple[Code, ...] = ()
    homework: tuple[Code, ...] = ()


class SessionMissed(OnEpisode):
    session_id: Code


class SessionCancelled(OnEpisode):
    session_id: Code
    by: Code


class ModalityChanged(OnEpisode):
    from_modality: Code | None = Field(None, validation_alias=AliasChoices("from_modality", "previous_modality"))
    to_modality: Code = Field(validation_alias=AliasChoices("to_modality", "modality"))
    reason: Code | None = None


class CareStepChanged(OnEpisode):
    from_step: int | None = Field(None, ge=1, le=10)
    to_step: int = Field(ge=1, le=10)
    reason: Code | None = None


class TherapyEpisodeEnded(OnEpisode):
    reason: Code | None = None


class OtherEvent(Reader):
    """A timeline entry of a type coordination does not read, as earlier versions recorded
    them (its name, no fields: nothing says which of them are codes). The projection no longer
    makes them (an unknown type is dead-lettered); those already recorded still read back."""


Input = (PatientEnrolled | AssessmentRecorded | LifeCircumstanceChanged | PatientPreferencesUpdated
         | PatientIdentityErased | MedicationStarted | DoseAdjusted | MedicationDiscontinued
         | AdverseEffectReported | TherapyEpisodeStarted | SessionScheduled | SessionCompleted | SessionMissed
         | SessionCancelled | ModalityChanged | CareStepChanged | TherapyEpisodeEnded | OtherEvent)
"""Every body read from another service's topic (a closed union: ``match`` is exhaustive)."""

READERS: dict[tuple[str, str], type[Input]] = {
    ("assessment", "PatientEnrolled"): PatientEnrolled,
    ("assessment", "AssessmentRecorded"): AssessmentRecorded,
    ("assessment", "LifeCircumstanceChanged"): LifeCircumstanceChanged,
    ("assessment", "PatientPreferencesUpdated"): PatientPreferencesUpdated,
    ("assessment", "PatientIdentityErased"): PatientIdentityErased,
    ("pharmacy", "MedicationStarted"): MedicationStarted,
    ("pharmacy", "DoseAdjusted"): DoseAdjusted,
    ("pharmacy", "MedicationDiscontinued"): MedicationDiscontinued,
    ("pharmacy", "AdverseEffectReported"): AdverseEffectReported,
    ("therapy", "TherapyEpisodeStarted"): TherapyEpisodeStarted,
    ("therapy", "SessionScheduled"): SessionScheduled,
    ("therapy", "SessionCompleted"): SessionCompleted,
    ("therapy", "SessionMissed"): SessionMissed,
    ("therapy", "SessionCancelled"): SessionCancelled,
    ("therapy", "ModalityChanged"): ModalityChanged,
    ("therapy", "CareStepChanged"): CareStepChanged,
    ("therapy", "TherapyEpisodeEnded"): TherapyEpisodeEnded,
}
