"""Request and response bodies of the assessment API (the published JSON contract)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from services.assessment.domain import (
    LIFE_EVENT_CATEGORIES,
    LIFE_EVENT_DIRECTIONS,
    LIFE_EVENT_IMPACTS,
)
from shared.schemas import Strict

Category = Literal[LIFE_EVENT_CATEGORIES]  # type: ignore[valid-type]
Direction = Literal[LIFE_EVENT_DIRECTIONS]  # type: ignore[valid-type]
Impact = Literal[LIFE_EVENT_IMPACTS]  # type: ignore[valid-type]


# RFC 5646 (BCP 47) language tag: language[-extlang][-script][-region][-variant]*[-extension]*[-privateuse]
# (a tag, never a sentence someone typed: preferences travel on events to Kafka, kept for ever)
BCP47 = (r"^[A-Za-z]{2,3}(-[A-Za-z]{3}){0,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
         r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*(-[0-9A-WY-Za-wy-z](-[A-Za-z0-9]{2,8})+)*"
         r"(-[xX](-[A-Za-z0-9]{1,8})+)?$")


_BCP47 = re.compile(BCP47)


def _language_tag(value: str | None) -> str | None:
    if value is not None and not _BCP47.match(value):
        raise ValueError("must be a BCP 47 language tag, such as de-CH, en or zh-Hant-TW")
    return value


class Preferences(Strict):
    # checked by a validator, not a Field pattern, so a 422 says what is wanted instead of the regex
    language: Annotated[str | None, AfterValidator(_language_tag)] = Field(
        None, max_length=35, description="BCP 47 language tag", examples=["de-CH", "en", "zh-Hant-TW"],
        json_schema_extra={"pattern": BCP47})
    prefers_non_pharmacological_first: bool = False


class EnrollRequest(Strict):
    clinic_id: str = Field(min_length=1, max_length=100)
    display_name: str = Field(min_length=1, max_length=200)
    birth_date: date
    external_ref: str | None = Field(None, max_length=100, description="external record number")
    preferences: Preferences | None = None


class EnrollResponse(BaseModel):
    patient_id: str
    clinic_id: str
    age_band: str
    preferences: Preferences
    version: int


class PreferencesResponse(BaseModel):
    patient_id: str
    preferences: Preferences
    version: int
    changed: bool


class PatientResponse(BaseModel):
    patient_id: str
    clinic_id: str
    identity_erased: bool
    display_name: str | None
    birth_date: date | None
    external_ref: str | None


class AssessmentRequest(Strict):
    instrument: str = Field(description="PHQ-9, GAD-7, PHQ-15, ISI, WSAS or PAIN-NRS")
    # Items are checked by the instrument's rules, so the error names the item and its range.
    item_scores: list[Any]
    administered_at: AwareDatetime
    total: int | None = Field(None, description="optional; refused when it disagrees")


class AssessmentResponse(BaseModel):
    assessment_id: str
    patient_id: str
    instrument: str
    item_scores: list[int]
    total: int
    max_total: int
    band: str
    loinc: str | None
    safety_item_positive: bool
    administered_at: AwareDatetime
    version: int | None = None


class LifeEventRequest(Strict):
    category: Category
    direction: Direction
    impact: Impact
    occurred_at: AwareDatetime
    note: str | None = Field(None, max_length=2000, description="kept in this service only")


class LifeEventResponse(BaseModel):
    life_event_id: str
    patient_id: str
    category: str
    direction: str
    impact: str
    occurred_at: AwareDatetime
    note: str | None = None
    version: int | None = None
