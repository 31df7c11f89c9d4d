"""Stalled escalation: the team decided to step care up and nothing enacted it by ``due_by``.

Enacting events: a dose change (increase or decrease; a unit change restates a dose), a new
drug, a modality change, or a care step up. One counts when it occurred at or after the
decision and no later than ``due_by`` (the decision's own, else decided_at + ``days``). Raised
at ``due_by``; resolved by the first enacting event after it. The rule does not match the
escalation's target to the kind of event: the domain table names any enacting event.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta

from .facts import PatientFacts
from .flags import FlagState
from .text import day

RULE_ID = "stalled_escalation"
VERSION = 1
DESCRIPTION = "an escalation decided and not enacted (dose change, new drug, modality or step up) by its due date"


@dataclass(frozen=True, slots=True)
class Thresholds:
    days: int  # the due date when the decision names none

    def check(self) -> str | None:
        return "days must be at least 1" if self.days < 1 else None


def enactments(facts: PatientFacts) -> list[tuple[datetime, str]]:
    """(time, event id) of every event that enacts an escalation, in time order."""
    found = [(d.at, d.event_id) for d in facts.dose_changes if d.changes_dose]
    found += [(c.at, c.event_id) for c in facts.courses]
    found += [(m.at, m.event_id) for m in facts.modality_changes]
    found += [(s.at, s.event_id) for s in facts.step_changes if s.step_up]
    found.sort()
    return found


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    acts = enactments(facts)
    times = [at for at, _ in acts]
    flags: list[FlagState] = []
    for decision in facts.escalations:
        # A due date before the decision itself cannot be met; it is read as the decision's moment.
        due = max(decision.due_by or decision.at + timedelta(days=th.days), decision.at)
        if due > as_of:
            continue
        i = bisect_left(times, decision.at)
        if i < len(acts) and acts[i][0] <= due:
            continue
        basis = "its due date" if decision.due_by else f"the default {th.days} days"
        resolved = acts[i] if i < len(acts) else None
        flags.append(FlagState(
            key=(decision.event_id,), severity="warning", raised_at=due, evidence=(decision.event_id,),
            explanation=f"escalation decided {day(decision.at)} not enacted by {day(due)} ({basis})",
            resolved_at=resolved[0] if resolved else None, resolved_by=resolved[1] if resolved else None))
    return flags
