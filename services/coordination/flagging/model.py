"""A stored flag as the service keeps it and shows it; pure, no I/O.

The engine's :class:`~services.coordination.rules.Flag` says what the history implies; a
:class:`StoredFlag` adds what the service knows besides: the clinic, the acknowledgement, and
whether a backdated event withdrew it. ``flag_json`` is the one JSON shape of a flag: the API
returns it, ``flag_changes.flag`` keeps it after each change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.coordination.rules import Flag
from services.coordination.rules.flags import SEVERITY_RANK, Severity

Status = Literal["open", "acknowledged", "resolved"]
STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved")
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "high", "urgent")


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A clinician's acknowledgement (the note is not part of it: it stays in its table)."""

    reason: str
    acknowledged_by: str
    acknowledged_at: datetime


@dataclass(frozen=True, slots=True)
class StoredFlag:
    flag_id: str
    rule_id: str
    rule_version: str
    patient_id: str
    clinic_id: str
    severity: Severity
    status: Status
    raised_at: datetime
    resolved_at: datetime | None
    thresholds: Mapping[str, Any]  # JSON-ready (tuples as lists)
    evidence: tuple[str, ...]
    explanation: str
    acknowledgement: Acknowledgement | None = None
    withdrawn: bool = False

    @property
    def unresolved(self) -> bool:
        return self.status != "resolved"


def rank(severity: str) -> int:
    return SEVERITY_RANK[severity]


def plain_thresholds(flag: Flag) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in flag.thresholds.items()}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def flag_json(f: StoredFlag) -> dict[str, Any]:
    """The flag as clients see it (issue 11's shape, plus who acknowledged it and why, and
    whether it was withdrawn)."""
    ack = f.acknowledgement
    return {
        "flag_id": f.flag_id, "rule_id": f.rule_id, "rule_version": f.rule_version, "patient_id": f.patient_id,
        "clinic_id": f.clinic_id, "severity": f.severity, "status": f.status, "raised_at": _iso(f.raised_at),
        "acknowledged_at": _iso(ack.acknowledged_at) if ack else None,
        "acknowledged_by": ack.acknowledged_by if ack else None,
        "ack_reason": ack.reason if ack else None,
        "resolved_at": _iso(f.resolved_at), "withdrawn": f.withdrawn, "thresholds": dict(f.thresholds),
        "evidence": list(f.evidence), "explanation": f.explanation,
    }


def from_row(row: Mapping[str, Any]) -> StoredFlag:
    """A flag from a ``flags`` row (jsonb columns arrive as text from asyncpg)."""
    ack = None
    if row["acknowledged_at"] is not None:
        ack = Acknowledgement(row["ack_reason"], row["acknowledged_by"], row["acknowledged_at"])
    return StoredFlag(
        flag_id=row["flag_id"], rule_id=row["rule_id"], rule_version=row["rule_version"],
        patient_id=row["patient_id"], clinic_id=row["clinic_id"], severity=row["severity"], status=row["status"],
        raised_at=row["raised_at"], resolved_at=row["resolved_at"], thresholds=_json(row["thresholds"]),
        evidence=tuple(_json(row["evidence"])), explanation=row["explanation"], acknowledgement=ack,
        withdrawn=row["withdrawn"])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
