"""Safety: PHQ-9 item 9 (thoughts of death or self-harm) above zero.

Raised at the administration of a PHQ-9 whose item 9 is at least ``min_item_score``; later
positive PHQ-9s join the open flag as evidence. Resolved by a later PHQ-9 with item 9 below
it; acknowledging the flag does not resolve it (the service records acknowledgements).
Item 9 is read from the item scores; a payload without them falls back on the producer's
``safety_item_positive``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .facts import PatientFacts, Score
from .flags import FlagState
from .text import day

RULE_ID = "safety"
VERSION = 1
DESCRIPTION = "PHQ-9 item 9 at or above `min_item_score`"

PHQ9 = "PHQ-9"
ITEM = 9


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_item_score: int

    def check(self) -> str | None:
        return "min_item_score must be between 1 and 3" if not 1 <= self.min_item_score <= 3 else None


def _item(score: Score) -> int | None:
    return score.item_scores[ITEM - 1] if len(score.item_scores) >= ITEM else None


def _positive(score: Score, th: Thresholds) -> bool:
    item = _item(score)
    return score.safety_item_positive if item is None else item >= th.min_item_score


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    flags: list[FlagState] = []
    current: FlagState | None = None
    for score in facts.scores:
        if score.instrument != PHQ9 or score.at > as_of:
            continue
        if _positive(score, th):
            if current is None:
                current = FlagState(
                    key=(score.event_id,), severity="urgent", raised_at=score.at, evidence=(score.event_id,),
                    explanation=(f"PHQ-9 item 9 {'positive' if (v := _item(score)) is None else f'= {v}'} on "
                                 f"{day(score.at)} (threshold {th.min_item_score})"))
            else:
                current = replace(current, evidence=(*current.evidence, score.event_id))
        elif current is not None:
            flags.append(replace(current, resolved_at=score.at, resolved_by=score.event_id))
            current = None
    if current is not None:
        flags.append(current)
    return flags
