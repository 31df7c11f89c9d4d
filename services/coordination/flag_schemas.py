"""Request and response bodies of the flag API (the published JSON contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.coordination.domain.flag_events import Severity
from services.coordination.domain.vocabulary import AcknowledgementReason
from services.coordination.flagging.model import Status
from shared.schemas import Strict


class AcknowledgementRequest(Strict):
    reason: AcknowledgementReason
    note: str | None = Field(None, max_length=2000,
                             description="kept in this service only (never published); erased with the "
                                         "patient's identity")


class FlagResponse(BaseModel):
    flag_id: str
    rule_id: str
    rule_version: str = Field(description="<rule version>+thresholds.<thresholds file version> at the raise")
    patient_id: str
    clinic_id: str
    severity: Severity
    status: Status
    raised_at: datetime = Field(description="when the condition became true, in event time")
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="staff id")
    ack_reason: AcknowledgementReason | None
    resolved_at: datetime | None = Field(description="when the condition cleared, in event time")
    withdrawn: bool = Field(description="resolved because a backdated event showed its cause never held")
    thresholds: dict[str, Any] = Field(description="the thresholds the rule used when it raised the flag")
    evidence: list[str] = Field(description="ids of the events that raised it")
    explanation: str


class FlagPage(BaseModel):
    flags: list[FlagResponse]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class RuleRef(BaseModel):
    rule_id: str
    version: int = Field(description="the rule's current version (the flag's own is in rule_version)")
    description: str


class EvidenceEvent(BaseModel):
    event_id: str
    occurred_at: datetime
    recorded_at: datetime
    service: str
    type: str
    summary: str = Field(description="the timeline's summary of the event")


class FlagDetail(FlagResponse):
    rule: RuleRef
    evidence_events: list[EvidenceEvent] = Field(description="the evidence, in the order the rule named it")
    acknowledgement_note: str | None


class RuleCatalogueEntry(BaseModel):
    rule_id: str
    version: int
    rule_version: str
    description: str
    defaults: dict[str, Any]
    clinics: dict[str, dict[str, Any]] = Field(description="the caller's clinics' thresholds")


class RulesResponse(BaseModel):
    thresholds_version: str
    rules: list[RuleCatalogueEntry]
