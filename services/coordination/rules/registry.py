"""The rules coordination runs, in a fixed order (the order of the domain's risk table)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from . import (
    dangerous_combination,
    disengagement,
    plan_review_due,
    polypharmacy,
    rapid_titration,
    safety,
    stalled_escalation,
    stalled_progress,
    unreviewed_adverse_effect,
)
from .facts import PatientFacts
from .flags import FlagState


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    version: int  # bumped when the rule's semantics change
    description: str
    thresholds_type: type[Any]
    evaluate: Callable[[PatientFacts, datetime, Any], list[FlagState]]


def _rule(module: ModuleType) -> Rule:
    return Rule(module.RULE_ID, module.VERSION, module.DESCRIPTION, module.Thresholds, module.evaluate)


RULES: tuple[Rule, ...] = tuple(_rule(m) for m in (
    polypharmacy, dangerous_combination, stalled_escalation, stalled_progress, plan_review_due,
    disengagement, rapid_titration, unreviewed_adverse_effect, safety))

RULES_BY_ID: dict[str, Rule] = {rule.rule_id: rule for rule in RULES}
