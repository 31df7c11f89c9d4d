"""The recurring parts of a course of care: symptom trajectories and the questionnaires that
measure them, and a therapy episode's weekly sessions.

Trajectories are shares of the baseline over the days since care began. They are drawn so
that the coordination rules read them as the story means: a responder's scores fall by more
than half within eight weeks of each care step's first score; a non-responder's do not; a
score that low (under 5) cannot stall; and PHQ-9 item 9 stays 0 unless the story says not.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from .catalog import INSTRUMENTS, PRESENTATIONS, Instrument, item_scores
from .chart import At, Chart, at

Knots = tuple[tuple[float, float], ...]

RESPONDER: Knots = ((0, 1.0), (14, 0.85), (28, 0.55), (42, 0.38), (56, 0.28), (70, 0.2), (100, 0.17))
NON_RESPONDER: Knots = ((0, 1.0), (14, 0.95), (28, 0.92), (56, 0.9), (400, 0.88))


def partial_then_better(turn: float) -> Knots:
    """A partial response until ``turn`` (an escalation enacted), then a response."""
    return ((0, 1.0), (14, 0.85), (28, 0.75), (turn, 0.68), (turn + 14, 0.6), (turn + 28, 0.45),
            (turn + 42, 0.32), (turn + 56, 0.22), (turn + 80, 0.18))


def stalled_then_better(turn: float) -> Knots:
    """No response until ``turn``, then a response."""
    return ((0, 1.0), (14, 0.93), (28, 0.9), (turn, 0.88), (turn + 21, 0.7), (turn + 42, 0.45),
            (turn + 63, 0.3), (turn + 90, 0.22))


def with_relapse(knots: Knots, day: float, peak: float = 0.6) -> Knots:
    """``knots`` until ``day``, then worse for three weeks, then recovering over ten."""
    before = tuple(k for k in knots if k[0] < day)
    return (*before, (day, share(knots, day)), (day + 21, peak), (day + 42, peak * 0.7), (day + 70, 0.25),
            (day + 100, 0.2))


def share(knots: Knots, day: float) -> float:
    """Linear between knots, flat beyond them."""
    if day <= knots[0][0]:
        return knots[0][1]
    for (d0, v0), (d1, v1) in pairwise(knots):
        if day <= d1:
            return v0 + (v1 - v0) * (day - d0) / (d1 - d0)
    return knots[-1][1]


@dataclass
class Measures:
    """The questionnaires of one patient from ``start`` (day, anchor-relative) to ``end``."""

    presentation: str
    rng: random.Random
    baselines: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ranges = PRESENTATIONS[self.presentation].baselines
        self.baselines = {code: self.rng.randint(*ranges[code]) for code in ranges}

    def record(self, chart: Chart, start: int, end: int, knots: Knots,
               safety: Mapping[int, int] | None = None) -> None:
        """Every instrument at its cadence; ``safety``: PHQ-9 item 9 by day since ``start``.

        All at one time of day (the morning visit), so a score eight weeks after a baseline is
        exactly at the rule's deadline rather than minutes after it."""
        minute = self.rng.choice((0, 15, 30, 45))
        for instrument in INSTRUMENTS:
            for day in range(0, end - start + 1, instrument.every_days):
                item9 = (safety or {}).get(day, 0) if instrument.code == "PHQ-9" else 0
                total = self.total(instrument, day, knots) + item9
                chart.score(instrument.code, item_scores(instrument, total, self.rng, item9),
                            at(start + day, 9, minute))

    def total(self, instrument: Instrument, day: float, knots: Knots) -> int:
        s = share(knots, day)
        if instrument.code == "WSAS":
            s = share(knots, day - 14)  # functioning follows symptoms a couple of weeks later
        elif instrument.code == "PAIN-NRS":
            s = 0.45 + 0.55 * s  # pain yields less than mood
        value = round(self.baselines[instrument.code] * s)
        if value >= 6:  # small scores stay as drawn: noise must not lift one over a threshold
            value += self.rng.choice((-1, 0, 0, 1))
        return max(0, min(value, instrument.max_total - (instrument.item_max if instrument.code == "PHQ-9" else 0)))


TECHNIQUES: dict[str, tuple[str, ...]] = {
    "cbt": ("psychoeducation", "thought_record", "cognitive_restructuring", "behavioral_experiment"),
    "behavioral_activation": ("activity_scheduling", "self_monitoring", "problem_solving"),
    "act": ("values_work", "mindfulness_practice", "pacing"),
    "mindfulness": ("mindfulness_practice", "breathing", "relaxation"),
    "interpersonal": ("problem_solving", "psychoeducation"),
}


@dataclass
class Therapy:
    """A therapy episode from two days after its start: weekly sessions for eight weeks, then
    fortnightly, and a make-up session five days after one that did not take place.

    ``outcomes`` pins sessions (by number, from 1); the others are mostly completed, sometimes
    missed or cancelled, but never two in a row that were not completed, so an engaged patient
    never goes 21 days without a session and never misses twice running.
    """

    WEEKLY = 8  # sessions of the acute phase

    chart: Chart
    rng: random.Random
    modality: str
    step: int = 2
    outcomes: dict[int, str] = field(default_factory=dict)
    changes: list[tuple[float, str, str | int, str]] = field(default_factory=list)  # (day, kind, value, reason)

    def run(self, start: int, until: float, *, end: tuple[str, int] | None = None, last: int | None = None) -> str:
        """Sessions until the day ``until`` (or session ``last``); ``end``: (reason, days after the last)."""
        c = self.chart
        ep = c.episode(self.modality, self.step, at(start, 11))
        changes = sorted(self.changes)
        number, day, previous_done, last_day = 1, start + 2, True, start
        while day <= until and (last is None or number <= last):
            while changes and changes[0][0] <= day:
                self._change(ep, *changes.pop(0))
            outcome = self.outcomes.get(number) or self._draw(previous_done)
            c.session(ep, number, at(day, 14), outcome, self._techniques())
            previous_done = outcome == "completed"
            last_day = day
            number, day = number + 1, day + (7 if number < self.WEEKLY else 14 if previous_done else 5)
        if end is not None:
            c.end(ep, end[0], at(last_day + end[1], 16))
        return ep

    def _draw(self, previous_done: bool) -> str:
        if not previous_done:
            return "completed"
        return self.rng.choices(("completed", "cancelled_by_clinic", "missed", "cancelled_by_patient"),
                                (84, 7, 6, 3))[0]

    def _techniques(self) -> list[str]:
        pool = TECHNIQUES.get(self.modality, ("psychoeducation", "problem_solving"))
        return self.rng.sample(pool, k=min(2, len(pool)))

    def _change(self, ep: str, day: float, kind: str, value: str | int, reason: str) -> None:
        when: At = at(day, 15)
        if kind == "modality":
            self.modality = str(value)
            self.chart.modality(ep, str(value), reason, when)
        else:
            self.chart.care_step(ep, int(value), reason, when)
