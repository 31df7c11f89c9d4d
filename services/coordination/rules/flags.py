"""What a rule finds (:class:`FlagState`) and what the engine hands out (:class:`Flag`).

Acknowledgement is not here: it is a clinician's act recorded by the service, not a
function of the clinical history.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Severity = Literal["info", "warning", "high", "urgent"]
SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "high": 2, "urgent": 3}

ThresholdValue = int | float | str | tuple[str, ...]

# Fixed for good: changing it would give every flag a new id and break replays.
FLAG_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:carecoord:coordination:risk-flag")


def flag_id(rule_id: str, patient_id: str, key: tuple[str, ...]) -> str:
    """Deterministic id from rule, patient and the triggering evidence, so a replay finds the same flag."""
    return str(uuid.uuid5(FLAG_NAMESPACE, "\x1f".join((rule_id, patient_id, *key))))


@dataclass(frozen=True, slots=True)
class FlagState:
    """One flag as a rule sees it: when its condition became true and, if it did, when it cleared."""

    key: tuple[str, ...]  # the triggering evidence that names the flag (event ids, codes)
    severity: Severity
    raised_at: datetime
    evidence: tuple[str, ...]  # ids of the events that raised it
    explanation: str
    resolved_at: datetime | None = None
    resolved_by: str | None = None  # the event that cleared it; None when time alone cleared it


@dataclass(frozen=True, slots=True)
class Flag:
    flag_id: str
    rule_id: str
    rule_version: str  # "<rule version>+thresholds.<file version>"
    patient_id: str
    severity: Severity
    raised_at: datetime
    resolved_at: datetime | None  # None: open as of the evaluation time
    thresholds: Mapping[str, ThresholdValue]
    evidence: tuple[str, ...]
    explanation: str
    resolved_by: str | None = None

    @property
    def status(self) -> Literal["open", "resolved"]:
        return "open" if self.resolved_at is None else "resolved"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes in ISO 8601, tuples as lists)."""
        return {
            "flag_id": self.flag_id, "rule_id": self.rule_id, "rule_version": self.rule_version,
            "patient_id": self.patient_id, "severity": self.severity, "status": self.status,
            "raised_at": self.raised_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by,
            "thresholds": {k: list(v) if isinstance(v, tuple) else v for k, v in self.thresholds.items()},
            "evidence": list(self.evidence), "explanation": self.explanation,
        }
