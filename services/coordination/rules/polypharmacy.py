"""Polypharmacy: at least ``count`` distinct drugs active at once (Masnoon 2017).

Raised at the first moment the count of distinct drug codes (code + system) reaches
``count``; resolved at the moment it drops below. A drug the formulary does not know (an
RxNorm code with no class) counts like any other. One flag per stretch above the threshold;
it becomes ``high`` if, while it is open, the count reaches ``high_count`` (severity never
drops back within one flag, so the worst moment stays visible).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from .facts import CourseStarted, DrugKey, PatientFacts
from .flags import FlagState
from .medication import drug_instants
from .text import day

RULE_ID = "polypharmacy"
VERSION = 1
DESCRIPTION = "at least `count` distinct drugs active at once (high from `high_count`)"


@dataclass(frozen=True, slots=True)
class Thresholds:
    count: int
    high_count: int

    def check(self) -> str | None:
        if self.count < 2:
            return "count must be at least 2"
        if self.high_count < self.count:
            return "high_count must not be below count"
        return None


def _starts(active: Mapping[DrugKey, tuple[CourseStarted, ...]]) -> tuple[str, ...]:
    courses = sorted((c for cs in active.values() for c in cs), key=lambda c: (c.at, c.event_id))
    return tuple(c.event_id for c in courses)


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    flags: list[FlagState] = []
    current: FlagState | None = None
    text = ""
    for instant in drug_instants(facts):
        if instant.at > as_of:
            break
        n = len(instant.active)
        if current is None and n >= th.count:
            # Only a start raises the count, so this instant started at least one course.
            trigger = instant.started[-1]
            high = n >= th.high_count
            text = f"{n} distinct drugs active since {day(instant.at)} (threshold {th.count}"
            text += f", high from {th.high_count})" if high else ")"
            current = FlagState(key=(trigger.event_id,), severity="high" if high else "warning",
                                raised_at=instant.at, evidence=_starts(instant.active), explanation=text)
        elif current is not None and current.severity == "warning" and n >= th.high_count:
            evidence = tuple(dict.fromkeys((*current.evidence, *_starts(instant.active))))
            current = replace(current, severity="high", evidence=evidence, explanation=(
                f"{text}; {n} since {day(instant.at)} (high from {th.high_count})"))
        elif current is not None and n < th.count:
            flags.append(replace(current, resolved_at=instant.at,
                                 resolved_by=instant.stopped[-1][1] if instant.stopped else None))
            current = None
    if current is not None:
        flags.append(current)
    return flags
