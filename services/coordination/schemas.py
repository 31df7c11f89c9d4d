"""Request and response bodies of the coordination API (the published JSON contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field

from services.coordination.domain.vocabulary import (
    CarePlanGoal,
    ConferenceDecision,
    EscalationReason,
    EscalationTarget,
    ReviewReason,
)
from shared.schemas import Strict

# A staff id (the identity provider's subject), never a name: it travels on the events to Kafka.
StaffId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@|-]*$")]


class EscalationRequest(Strict):
    target: EscalationTarget
    reason: EscalationReason
    decided_at: AwareDatetime
    due_by: AwareDatetime | None = Field(None, description="decided_at + 14 days when not given")


class CarePlanReviewRequest(Strict):
    reason: ReviewReason
    reviewed_at: AwareDatetime
    goals: list[CarePlanGoal] = Field(default_factory=list, max_length=20)


class CaseConferenceRequest(Strict):
    held_at: AwareDatetime
    attendees: list[StaffId] = Field(min_length=1, max_length=50, description="staff ids")
    decisions: list[ConferenceDecision] = Field(min_length=1, max_length=20)


class Recorded(BaseModel):
    patient_id: str
    version: int
    event_id: str


class EscalationResponse(Recorded):
    escalation_id: str
    target: EscalationTarget
    reason: EscalationReason
    decided_at: datetime
    due_by: datetime


class CarePlanReviewResponse(Recorded):
    review_id: str
    reason: ReviewReason
    goals: list[CarePlanGoal]
    reviewed_at: datetime


class CaseConferenceResponse(Recorded):
    conference_id: str
    attendees: list[StaffId]
    decisions: list[ConferenceDecision]
    held_at: datetime


class TimelineEntry(BaseModel):
    event_id: str
    occurred_at: datetime
    recorded_at: datetime
    service: str
    type: str
    stream_id: str
    sequence: int
    summary: str
    data: dict[str, Any]


class TimelineResponse(BaseModel):
    entries: list[TimelineEntry]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class PartitionStatus(BaseModel):
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int


class ProjectionStatus(BaseModel):
    group: str
    partitions: list[PartitionStatus]
    applied: int
    skipped: int
    dead_lettered: int
