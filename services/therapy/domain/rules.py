"""Input rules of the therapy decider, each refusing with the field at fault.

Messages reach HTTP clients and logs: they name fields and codes, never the patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from shared.domain import require_aware, require_one_of
from shared.errors import RuleViolation

from .vocabulary import CARE_STEPS, TECHNIQUES, Technique

SCHEDULE_TOLERANCE = timedelta(days=1)
"""A session may be recorded as held or missed up to a day before its booked time (moved
forward at short notice, or booked in another zone), never earlier."""


def aware(moment: datetime, field: str) -> datetime:
    require_aware(moment, field)
    return moment


def not_before(moment: datetime, reference: datetime, field: str, what: str) -> datetime:
    if aware(moment, field) < reference:
        raise RuleViolation(f"must not be before {what}", field=field)
    return moment


def one_of(value: Any, allowed: tuple[str, ...], field: str) -> Any:
    """A code from a closed vocabulary; the caller casts to its Literal."""
    require_one_of(value, allowed, field)
    return value


def care_step(step: int, field: str) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or step not in CARE_STEPS:
        raise RuleViolation(f"must be a care step from {CARE_STEPS.start} to {CARE_STEPS.stop - 1}", field=field)
    return step


def codes(values: Iterable[str], field: str) -> tuple[Technique, ...]:
    """Technique codes, each once, in the order given."""
    given = tuple(values)
    for index, code in enumerate(given):
        one_of(code, TECHNIQUES, f"{field}.{index}")
    return cast(tuple[Technique, ...], tuple(dict.fromkeys(given)))


def text_id(value: str | None, field: str) -> str | None:
    """An optional staff id: blank counts as absent."""
    if value is None or not value.strip():
        return None
    if len(value) > 100:
        raise RuleViolation("must be at most 100 characters", field=field)
    return value.strip()
