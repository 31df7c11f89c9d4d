"""Plan review due: a life circumstance changed and the team has not revisited the plan.

Raised at changed_at + ``days`` when no CarePlanReviewed or CaseConferenceHeld occurred from
the change up to that moment; resolved by the next review or case conference. Severity is
``warning`` for a change for the worse whose impact is one of ``warning_impacts``, ``info``
otherwise (an improvement still deserves a look at the goals, with less urgency).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta

from .facts import PatientFacts
from .flags import FlagState
from .text import code, day

RULE_ID = "plan_review_due"
VERSION = 1
DESCRIPTION = "a life circumstance changed and no care-plan review or case conference within `days`"


@dataclass(frozen=True, slots=True)
class Thresholds:
    days: int
    warning_impacts: tuple[str, ...]

    def check(self) -> str | None:
        return "days must be at least 1" if self.days < 1 else None


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    reviews = sorted((r.at, r.event_id) for r in facts.reviews)
    times = [at for at, _ in reviews]
    flags: list[FlagState] = []
    for change in facts.life_changes:
        deadline = change.at + timedelta(days=th.days)
        if deadline > as_of:
            continue
        i = bisect_left(times, change.at)
        if i < len(reviews) and reviews[i][0] <= deadline:
            continue
        worse = change.direction == "worsened" and change.impact in th.warning_impacts
        resolved = reviews[i] if i < len(reviews) else None
        flags.append(FlagState(
            key=(change.event_id,), severity="warning" if worse else "info", raised_at=deadline,
            evidence=(change.event_id,),
            explanation=(f"{code(change.category)} {code(change.direction)} ({code(change.impact)} impact) on "
                         f"{day(change.at)}, no care-plan review within {th.days} days"),
            resolved_at=resolved[0] if resolved else None, resolved_by=resolved[1] if resolved else None))
    return flags
