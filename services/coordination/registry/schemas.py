"""The caseload's and the measures' response bodies (the published JSON contract).

Moments are written as ``datetime.isoformat()`` gives them (``+00:00``), as these endpoints
have always answered; the codes are closed lists of this registry's own (sort orders, measure
ids, severities), so their enums have no ``other``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

Moment = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json"),
                   WithJsonSchema({"type": "string", "format": "date-time"})]

# The catalogue's ids (registry.measures.MEASURES; a unit test keeps the two in step).
MeasureId = Literal["follow_up_4w", "case_review_8_12w", "response_12w", "remission_12w", "response_24w",
                    "remission_24w", "nonresponse_to_escalation_days", "polypharmacy"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- caseload


class CaseloadScore(_Out):
    total: int
    at: Moment


class CaseloadInstrument(_Out):
    baseline: CaseloadScore = Field(description="the first score")
    latest: CaseloadScore
    change_percent: float | None = Field(description="from baseline to latest; null with a single score")


class OpenFlags(_Out):
    """Open (not resolved) flags by severity."""

    urgent: int
    high: int
    warning: int
    info: int


class CaseloadRow(_Out):
    patient_id: str
    clinic_id: str
    care_manager: str | None = Field(description="staff id who enrolled the patient")
    care_started_at: Moment = Field(description="the enrolment or the first contact, whichever came first")
    weeks_in_treatment: int
    phq9: CaseloadInstrument | None
    gad7: CaseloadInstrument | None
    last_contact_at: Moment | None = Field(description="a questionnaire administered or a session attended")
    days_since_contact: int | None
    next_contact_due: Moment = Field(description="the last contact (or the start of care) + 14 days")
    contact_overdue: bool
    case_review_due: bool = Field(description="baseline PHQ-9 >= 10, 8 weeks or more in care, not improved, "
                                              "no case conference since day 56")
    open_flags: OpenFlags


class CaseloadPage(_Out):
    patients: list[CaseloadRow]
    next_cursor: str | None = Field(description="for the next page; null on the last")
    as_of: Moment


# --------------------------------------------------------------------------- measures


class CellPatients(_Out):
    numerator: list[str]
    denominator: list[str]


class MeasureCell(_Out):
    measure_id: MeasureId
    numerator: int
    denominator: int
    rate: float | None = Field(description="numerator / denominator, 4 decimals; null without a denominator")
    median_days: float | None = Field(None, description="nonresponse_to_escalation_days only: the median days")
    patients: CellPatients | None = Field(None, description="with include=patients only: the patient ids")


class MonthMeasures(_Out):
    month: str = Field(description="YYYY-MM")
    measures: list[MeasureCell]


class ClinicMeasures(_Out):
    clinic_id: str
    months: list[MonthMeasures]


class MeasureDefinition(_Out):
    measure_id: MeasureId
    version: int
    title: str
    definition: str
    source: str
    kind: Literal["proportion", "median"]
    attribution: Literal["start_month", "calendar_month"] = Field(
        description="start_month: a patient counts in the month care started; calendar_month: in each month in care")


class MeasuresPage(_Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    as_of: Moment
    first: str = Field(alias="from", description="YYYY-MM")
    last: str = Field(alias="to", description="YYYY-MM")
    version: int = Field(description="of the definitions as a whole")
    definitions: list[MeasureDefinition]
    clinics: list[ClinicMeasures]
