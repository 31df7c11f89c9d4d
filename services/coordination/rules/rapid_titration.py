"""Rapid titration: more than one dose increase of one course within ``days``.

Raised at the ``increases``-th increase falling within ``days`` of the first of them (by
default the second increase within 7 days). The flag stays open while further increases
follow within ``days`` of the previous one, and resolves ``days`` after the last increase
when none followed (resolved by time, so it names no resolving event).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .facts import DoseChanged, PatientFacts
from .flags import FlagState
from .text import day

RULE_ID = "rapid_titration"
VERSION = 1
DESCRIPTION = "`increases` dose increases of one course within `days`"


@dataclass(frozen=True, slots=True)
class Thresholds:
    increases: int
    days: int

    def check(self) -> str | None:
        if self.increases < 2 or self.days < 1:
            return "increases must be at least 2 and days at least 1"
        return None


def _course(course: str, ups: list[DoseChanged], as_of: datetime, th: Thresholds) -> list[FlagState]:
    window = timedelta(days=th.days)
    flags: list[FlagState] = []
    current: FlagState | None = None
    last: datetime | None = None
    for i, up in enumerate(ups):
        if current is not None and last is not None and up.at > last + window:
            flags.append(replace(current, resolved_at=last + window))
            current = None
        first = ups[i - th.increases + 1] if i >= th.increases - 1 else None
        if current is None and first is not None and up.at - first.at <= window:
            run = ups[i - th.increases + 1:i + 1]
            current = FlagState(
                key=(course, up.event_id), severity="warning", raised_at=up.at,
                evidence=tuple(u.event_id for u in run),
                explanation=(f"{len(run)} dose increases of one medication between {day(first.at)} and "
                             f"{day(up.at)} (threshold {th.increases} within {th.days} days)"))
        last = up.at
    if current is not None and last is not None:
        done = last + window
        flags.append(replace(current, resolved_at=done) if done <= as_of else current)
    return flags


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    ups: dict[str, list[DoseChanged]] = defaultdict(list)
    for change in facts.dose_changes:
        if change.direction == "increase":
            ups[change.course_id].append(change)
    return [flag for course, changes in ups.items() for flag in _course(course, changes, as_of, th)]
