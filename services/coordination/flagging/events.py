"""Flag changes as events of the stream ``flags-<patient>``: pure, envelopes built here, appended
by the shell on the projection's (or the acknowledgement's) connection."""

from __future__ import annotations

from collections.abc import Sequence

from services.coordination.domain import RiskFlagRaised, RiskFlagResolved
from shared.envelope import Envelope, Metadata, new_envelope

from .reconcile import Change

SERVICE = "coordination"


def flag_stream(patient_id: str) -> str:
    return f"flags-{patient_id}"


def change_event(change: Change) -> RiskFlagRaised | RiskFlagResolved:
    f = change.flag
    if change.kind == "raised":
        return RiskFlagRaised(
            occurred_at=f.raised_at, patient_id=f.patient_id, flag_id=f.flag_id, rule_id=f.rule_id,
            rule_version=f.rule_version, severity=f.severity, raised_at=f.raised_at, thresholds=dict(f.thresholds),
            evidence=f.evidence, explanation=f.explanation)
    assert f.resolved_at is not None
    return RiskFlagResolved(
        occurred_at=f.resolved_at, patient_id=f.patient_id, flag_id=f.flag_id, rule_id=f.rule_id,
        rule_version=f.rule_version, severity=f.severity, raised_at=f.raised_at, resolved_at=f.resolved_at,
        thresholds=dict(f.thresholds), evidence=f.evidence, explanation=f.explanation, withdrawn=f.withdrawn)


def change_envelopes(patient_id: str, changes: Sequence[Change], cause: Envelope | None) -> list[Envelope]:
    """One event per change; ``cause`` (the latest event this evaluation followed, None for the
    tick) becomes their causation and lends them its correlation."""
    meta = Metadata(correlation_id=cause.correlation_id if cause else None,
                    causation_id=str(cause.id) if cause else None)
    return [new_envelope(SERVICE, flag_stream(patient_id), change_event(c), subject=patient_id,
                         clinic_id=c.flag.clinic_id, metadata=meta) for c in changes]
