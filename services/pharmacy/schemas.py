"""Request and response bodies of the pharmacy API (the published JSON contract)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator, model_validator

from services.pharmacy.domain import (
    MAX_NOTE_LENGTH,
    AdverseEffect,
    DiscontinuationReason,
    DoseChangeReason,
    Indication,
    OverrideReason,
)
from shared.schemas import MAX_INT, Strict
from shared.stream_views import HistoryEntry

Note = Annotated[str | None, Field(max_length=MAX_NOTE_LENGTH, description=(
    "Words beside the code, for the care team: kept in the pharmacy service only (never on an "
    "event) and deleted when the patient's identity is erased"))]

MAX_SINGLE_DOSE: dict[str, float] = {
    "mcg": 100_000_000, "mg": 100_000, "g": 100, "mL": 10_000, "drop": 1_000, "tablet": 100, "patch": 10,
    "IU": 1_000_000}
"""Largest single dose a request may state, per unit: far above any real prescription (100 g of
a drug, 100 tablets), so only a typo or a probe is refused; the formulary's daily maxima are
the clinical check. A unit not listed here is refused by the domain's unit rule."""


class _Dosed(Strict):
    unit: str  # before dose, so the dose's check can read it
    dose: float = Field(allow_inf_nan=False)

    @field_validator("dose", mode="after")
    @classmethod
    def _within_cap(cls, dose: float, info: ValidationInfo) -> float:
        unit = info.data.get("unit")
        limit = MAX_SINGLE_DOSE.get(unit) if isinstance(unit, str) else None
        if limit is not None and dose > limit:
            raise ValueError(f"a single dose above {limit:g} {unit} is not a prescription")
        return dose


class Drug(Strict):
    code: str = Field(min_length=1, max_length=40, description="RxNorm RXCUI or ATC code")
    system: Literal["RxNorm", "ATC"]
    name: str | None = Field(None, max_length=200, deprecated=True, description=(
        "Ignored: the course takes the formulary's name for a code it knows (and none for one "
        "it does not), never the client's text"))


class DrugView(BaseModel):
    code: str
    system: Literal["RxNorm", "ATC"]
    name: str | None = Field(description="The formulary's name; null for a code it does not know")


class Schedule(Strict):
    """Either ``{"times_per_day": n}`` or ``{"as_needed": true}`` (optionally with a maximum
    ``times_per_day``)."""

    times_per_day: int | None = Field(None, ge=1, le=24)
    as_needed: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if self.times_per_day is None and not self.as_needed:
            raise ValueError("give times_per_day, or as_needed: true")
        return self


# Coded like every other value that reaches the events (and Kafka): words typed here could carry
# identity that could never be erased.
Route = Literal["oral", "sublingual", "buccal", "transdermal", "subcutaneous", "intramuscular", "intravenous",
                "rectal", "inhaled", "intranasal", "topical", "other"]


class StartRequest(_Dosed):
    drug: Drug
    schedule: Schedule
    route: Route = Field("oral", description="oral when not given")
    indication: Indication | None = Field(
        None, description='An ICD-10 code, e.g. {"system": "ICD-10", "code": "F32.1"}; words go in indication_note')
    indication_note: Note = None
    started_at: AwareDatetime
    override_reason: OverrideReason | None = Field(
        None, description="Why a daily dose above the formulary's maximum is prescribed")
    override_reason_note: Note = None

    @field_validator("route", mode="before")
    @classmethod
    def _oral_by_default(cls, value: object) -> object:
        return "oral" if value is None else value


class AdjustRequest(_Dosed):
    reason: DoseChangeReason
    reason_note: Note = None
    effective_at: AwareDatetime
    expected_version: int | None = Field(None, ge=1, le=MAX_INT)
    override_reason: OverrideReason | None = Field(
        None, description="Why a daily dose above the formulary's maximum is prescribed")
    override_reason_note: Note = None


class DiscontinueRequest(Strict):
    reason: DiscontinuationReason
    reason_note: Note = None
    effective_at: AwareDatetime


class AdverseEffectRequest(Strict):
    effect: AdverseEffect
    effect_note: Note = None
    severity: Literal["mild", "moderate", "severe"]
    observed_at: AwareDatetime


class CommandResponse(BaseModel):
    medication_id: str
    patient_id: str
    version: int
    event_id: str | None
    status: Literal["active", "discontinued"]
    dose: float
    unit: str


class Course(BaseModel):
    medication_id: str
    patient_id: str
    drug: DrugView
    dose: float
    unit: str
    daily_dose_mg: float | None
    schedule: Schedule
    route: str
    indication: Indication | None
    status: Literal["active", "discontinued"]
    started_at: AwareDatetime
    discontinued_at: AwareDatetime | None
    formulary: dict[str, object]
    version: int


class CourseWithHistory(Course):
    history: list[HistoryEntry]


class NoteView(BaseModel):
    event_id: str = Field(description="The event the note explains (its id in the course's history)")
    field: Literal["indication_note", "override_reason_note", "reason_note", "effect_note"]
    note: str
    recorded_at: AwareDatetime
