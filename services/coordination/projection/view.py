"""A patient's summary as clients read it: pure, from the stored state and a moment ``now``.

Only the windowed parts depend on ``now`` (life changes of the last 90 days, overdue
escalations); everything else is the folded state, reshaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from services.coordination.projection.state import Episode, Escalation, Medication, PatientSummary, Score

LIFE_CHANGE_WINDOW = timedelta(days=90)


def summary_view(s: PatientSummary, now: datetime, open_flags: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """``open_flags``: the patient's unresolved flags as the flags table holds them (flag JSON)."""
    return {
        "patient_id": s.patient_id,
        "clinic_id": s.clinic_id,
        "enrolled_at": s.enrolled_at,
        "age_band": s.age_band,
        "identity_erased": s.identity_erased,
        "preferences": s.preferences.model_dump() if s.preferences else None,
        "medications": [_medication(m) for m in sorted(s.medications.values(), key=lambda m: (
            m.started_at, m.medication_id)) if m.status == "active"],
        "therapy_episodes": [_episode(e) for e in sorted(s.episodes.values(), key=_newest_first)
                             if e.status == "open"],
        "instruments": {name: _instrument(scores) for name, scores in sorted(s.scores.items()) if scores},
        "life_changes": [c.model_dump() for c in s.life_changes if c.at >= now - LIFE_CHANGE_WINDOW],
        "open_escalations": [_escalation(e, now) for e in sorted(s.escalations.values(), key=lambda e: (
            e.decided_at, e.escalation_id)) if is_open(s, e)],
        "last_care_plan_review": s.last_review.model_dump() if s.last_review else None,
        "last_case_conference": s.last_conference.model_dump() if s.last_conference else None,
        "open_flags": list(open_flags),
        "event_count": s.event_count,
        "last_event_at": s.last_event_at,
        "as_of": now,
    }


def is_open(s: PatientSummary, e: Escalation) -> bool:
    """Not yet enacted: no dose change, new drug, modality change or step up at or after
    the decision (DOMAIN.md's enacting events)."""
    return s.last_enacted_at is None or s.last_enacted_at < e.decided_at


def change_percent(baseline: int, latest: int) -> float | None:
    """Change from baseline in percent (negative is better on every instrument here);
    undefined from a baseline of 0."""
    return None if baseline == 0 else round((latest - baseline) * 100 / baseline, 1)


def _newest_first(e: Episode) -> tuple[float, str]:
    return (-(e.started_at.timestamp() if e.started_at else 0.0), e.episode_id)


def _medication(m: Medication) -> dict[str, Any]:
    return {"medication_id": m.medication_id, "drug": m.drug.model_dump(), "atc": m.atc,
            "therapeutic_class": m.therapeutic_class, "risk_properties": list(m.risk_properties),
            "dose": m.dose, "unit": m.unit, "schedule": m.schedule.model_dump(), "daily_dose": m.daily_dose,
            "daily_dose_unit": f"{m.unit}/day", "route": m.route, "started_at": m.started_at,
            "last_changed_at": m.last_changed_at}


def _episode(e: Episode) -> dict[str, Any]:
    return {"episode_id": e.episode_id, "modality": e.modality, "care_step": e.care_step, "setting": e.setting,
            "started_at": e.started_at,
            "sessions": {"scheduled": e.scheduled, "completed": e.completed, "missed": e.missed,
                         "cancelled_by_patient": e.cancelled_by_patient,
                         "cancelled_by_clinic": e.cancelled_by_clinic},
            "last_completed_at": e.last_completed_at}


def _score(score: Score) -> dict[str, Any]:
    return {"total": score.total, "band": score.band, "at": score.at, "assessment_id": score.assessment_id}


def _instrument(scores: tuple[Score, ...]) -> dict[str, Any]:
    """Baseline is the first score in clinical time, latest the last one."""
    baseline, latest = scores[0], scores[-1]
    return {"baseline": _score(baseline), "latest": _score(latest), "count": len(scores),
            "change_percent": change_percent(baseline.total, latest.total) if len(scores) > 1 else None,
            "band": latest.band, "max_total": latest.max_total,
            "safety_item_positive": latest.safety_item_positive}


def _escalation(e: Escalation, now: datetime) -> dict[str, Any]:
    return {**e.model_dump(), "overdue": e.due_by < now}
