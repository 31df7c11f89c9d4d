"""What every synthetic patient's care shares: six months of questionnaires, an antidepressant
titrated once, weekly psychotherapy, a scheduled care-plan review. Archetypes (:mod:`.rules`,
:mod:`.controls`) add what makes each one of them.

Days are counted from the day care began (``t0``, about six months before the anchor); the
last questionnaire is two days before the anchor, the last session the day before, so every
event lies in the past.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from .care import Knots, Measures, Therapy
from .chart import At, Chart, at

END = -2  # the last day (anchor-relative) with questionnaires


@dataclass
class Story:
    chart: Chart
    rng: random.Random
    t0: int  # anchor-relative day care began
    variant: str
    presentation: str = "depressive"
    knots: Knots = ()
    safety: dict[int, int] = field(default_factory=dict)  # PHQ-9 item 9 by day since t0
    measures: Measures | None = None

    @property
    def last(self) -> int:
        """The last day (since t0) with questionnaires."""
        return END - self.t0

    def day(self, n: float, hour: int = 10) -> At:
        return at(self.t0 + n, hour)

    def last_phq9_day(self) -> int:
        return self.last // 14 * 14

    def therapy(self, modality: str | None = None, step: int = 2, outcomes: Mapping[int, str] | None = None,
                changes: list[tuple[float, str, str | int, str]] | None = None) -> Therapy:
        modality = modality or self.rng.choice(("cbt", "behavioral_activation", "act", "interpersonal"))
        return Therapy(self.chart, self.rng, modality, step, dict(outcomes or {}),
                       [(self.t0 + d, kind, value, reason) for d, kind, value, reason in changes or ()])

    def open_episode(self, therapy: Therapy, last: int | None = None) -> str:
        """From day 5 until the day before the anchor (or session ``last``), left open."""
        return therapy.run(self.t0 + 5, END + 1, last=last)

    def ended_episode(self, therapy: Therapy, sessions: int) -> str:
        return therapy.run(self.t0 + 5, END + 1, last=sessions, end=("remission", 5))

    def antidepressant(self, drug: str, titrate: bool = True) -> str:
        ref = self.chart.start(drug, self.day(2))
        if titrate:
            self.chart.titrate(ref, self.day(16))
        return ref

    def scheduled_review(self, day: int = 84) -> None:
        self.chart.review("scheduled", self.rng.sample(
            ["symptom_reduction", "daily_functioning", "sleep_improvement", "return_to_work", "self_management"],
            k=2), self.day(day, 15))

    def finish(self) -> None:
        """The questionnaires, once the story has set the trajectory."""
        self.measures = Measures(self.presentation, self.rng)
        self.measures.record(self.chart, self.t0, END, self.knots, self.safety)
