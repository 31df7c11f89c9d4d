"""Events of a patient's risk flags (stream ``flags-<patient id>``, subject = patient), published
on ``carecoord.coordination.flags.v1`` for dashboards.

Coded fields only: ids, codes, times, thresholds and the rules' explanation (generated from
codes and numbers, never from free text). The acknowledgement's note stays in the service.
``occurred_at`` is the change's moment in event time: ``raised_at`` for a raise,
``resolved_at`` for a resolution, the acknowledgement's wall-clock time for an acknowledgement.

A flag's id is deterministic and every event names it, so a consumer keeps the latest state
per flag id: a RiskFlagRaised may come again for the same flag (its severity rose, or a
backdated event moved or reopened it) and so may a RiskFlagResolved (its resolution moved).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from shared.events import DomainEvent

from .vocabulary import AcknowledgementReason

Severity = Literal["info", "warning", "high", "urgent"]
ThresholdValue = int | float | str | list[str]


class _FlagEvent(DomainEvent):
    patient_id: str
    flag_id: str
    rule_id: str
    rule_version: str
    severity: Severity
    raised_at: datetime


class RiskFlagRaised(_FlagEvent):
    event_name: ClassVar[str] = "RiskFlagRaised"
    version: ClassVar[int] = 1

    thresholds: dict[str, ThresholdValue]
    evidence: tuple[str, ...]  # ids of the events that raised it
    explanation: str


class RiskFlagResolved(_FlagEvent):
    event_name: ClassVar[str] = "RiskFlagResolved"
    version: ClassVar[int] = 1

    resolved_at: datetime
    thresholds: dict[str, ThresholdValue]
    evidence: tuple[str, ...]
    explanation: str
    # A backdated event showed that the flag's cause never held (not that it cleared).
    withdrawn: bool = False


class RiskFlagAcknowledged(_FlagEvent):
    event_name: ClassVar[str] = "RiskFlagAcknowledged"
    version: ClassVar[int] = 1

    reason: AcknowledgementReason
    acknowledged_by: str  # staff id


FlagEvent = RiskFlagRaised | RiskFlagResolved | RiskFlagAcknowledged

FLAG_EVENT_TYPES: tuple[type[DomainEvent], ...] = (RiskFlagRaised, RiskFlagAcknowledged, RiskFlagResolved)
