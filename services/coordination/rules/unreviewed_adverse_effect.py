"""Unreviewed adverse effect: a moderate or severe adverse effect nobody acted on within ``days``.

Acting on it: a DoseAdjusted (a real dose change) or MedicationDiscontinued of that course, or a
CarePlanReviewed, from the observation up to observed_at + ``days``. Raised at that deadline;
resolved by the first such event after it. A case conference does not count, as the domain
table names only the care-plan review.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from .facts import PatientFacts
from .flags import FlagState
from .text import code, day

RULE_ID = "unreviewed_adverse_effect"
VERSION = 1
DESCRIPTION = "a moderate/severe adverse effect with no dose change, stop or care-plan review within `days`"


@dataclass(frozen=True, slots=True)
class Thresholds:
    days: int
    severities: tuple[str, ...]

    def check(self) -> str | None:
        return "days must be at least 1" if self.days < 1 else None


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    reviews = [(r.at, r.event_id) for r in facts.reviews if r.kind == "care_plan_review"]
    answers: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for d in facts.dose_changes:
        if d.changes_dose:
            answers[d.course_id].append((d.at, d.event_id))
    for s in facts.stops:
        answers[s.course_id].append((s.at, s.event_id))
    flags: list[FlagState] = []
    for effect in facts.adverse_effects:
        deadline = effect.at + timedelta(days=th.days)
        if effect.severity not in th.severities or deadline > as_of:
            continue
        acts = sorted(answers.get(effect.course_id, []) + reviews)
        i = bisect_left(acts, (effect.at, ""))
        if i < len(acts) and acts[i][0] <= deadline:
            continue
        resolved = acts[i] if i < len(acts) else None
        flags.append(FlagState(
            key=(effect.event_id,), severity="warning", raised_at=deadline, evidence=(effect.event_id,),
            explanation=(f"{code(effect.severity)} adverse effect observed {day(effect.at)}, no dose change, stop "
                         f"or care-plan review within {th.days} days"),
            resolved_at=resolved[0] if resolved else None, resolved_by=resolved[1] if resolved else None))
    return flags
