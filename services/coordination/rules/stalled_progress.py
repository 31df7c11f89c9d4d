"""Stalled progress: no response after ``days`` at the current care step and no escalation decided.

Per instrument (PHQ-9, PHQ-15, GAD-7 by default): the baseline is the first score since the
current care step began (a therapy episode's start or any care-step change; before the first
of them, the patient's first score). At baseline + ``days``, if the step has not changed, the
baseline is at least ``min_baseline``, the latest score known then has not dropped by
``response_reduction`` (a response: 50% by default), and no EscalationDecided occurred since the
baseline, the flag is raised. It resolves at a later score showing a response, or at an
EscalationDecided, whichever comes first (as the domain table says: a later step change alone
does not resolve it).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from .facts import PatientFacts, Score
from .flags import FlagState
from .text import code, day

RULE_ID = "stalled_progress"
VERSION = 1
DESCRIPTION = "no response (a drop of `response_reduction` from baseline) after `days` at one care step"


@dataclass(frozen=True, slots=True)
class Thresholds:
    days: int
    response_reduction: float  # a response is a drop from baseline of at least this share
    min_baseline: int
    instruments: tuple[str, ...]

    def check(self) -> str | None:
        if self.days < 1:
            return "days must be at least 1"
        if not 0 < self.response_reduction < 1:
            return "response_reduction must be between 0 and 1"
        return None


def _flag(scores: list[Score], baseline: Score, deadline: datetime, escalations: list[tuple[datetime, str]],
          as_of: datetime, th: Thresholds) -> FlagState | None:
    # Exact arithmetic: "at least a 50% drop" must not depend on how a float rounds.
    limit = (1 - Fraction(str(th.response_reduction))) * baseline.total  # a score at or below it is a response
    latest = scores[bisect_right([s.at for s in scores], deadline) - 1]
    if deadline > as_of or baseline.total < th.min_baseline or latest.total <= limit:
        return None
    times = [at for at, _ in escalations]
    first = bisect_left(times, baseline.at)
    if first < len(escalations) and escalations[first][0] <= deadline:
        return None
    later = [(s.at, s.event_id) for s in scores if s.at > deadline and s.total <= limit]
    resolved = min([*later[:1], *escalations[first:first + 1]], default=None)
    evidence = tuple(dict.fromkeys((baseline.event_id, latest.event_id)))
    return FlagState(
        key=(baseline.instrument, baseline.event_id), severity="warning", raised_at=deadline, evidence=evidence,
        explanation=(f"{code(baseline.instrument)} {latest.total} against baseline {baseline.total} of "
                     f"{day(baseline.at)}: under {round(th.response_reduction * 100)}% reduction after "
                     f"{th.days} days at one care step and no escalation decided"),
        resolved_at=resolved[0] if resolved else None, resolved_by=resolved[1] if resolved else None)


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    step_starts = sorted([e.at for e in facts.episodes] + [s.at for s in facts.step_changes])
    escalations = sorted((e.at, e.event_id) for e in facts.escalations)
    by_instrument: dict[str, list[Score]] = defaultdict(list)
    for score in facts.scores:
        if score.instrument in th.instruments:
            by_instrument[score.instrument].append(score)
    flags: list[FlagState] = []
    for scores in by_instrument.values():
        seen_periods: set[int] = set()
        for score in scores:
            period = bisect_right(step_starts, score.at)  # step starts at or before the score
            if period in seen_periods:
                continue
            seen_periods.add(period)  # the first score of a period is its baseline
            deadline = score.at + timedelta(days=th.days)
            if period < len(step_starts) and step_starts[period] <= deadline:
                continue  # the step changed before the patient had been at it for `days`
            flag = _flag(scores, score, deadline, escalations, as_of, th)
            if flag is not None:
                flags.append(flag)
    return flags
