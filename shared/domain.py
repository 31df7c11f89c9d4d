"""Input checks every service's decider makes, written once so each refuses in the same words.

Pure functions: no clock, no I/O. Each refuses with a :class:`RuleViolation` naming the
field at fault, which every API answers with a 422.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shared.errors import RuleViolation


def require_aware(moment: datetime, field: str) -> None:
    """A naive clinical time is ambiguous by hours, enough to misorder a timeline."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RuleViolation("must include a time zone", field=field)


def require_one_of(value: str, allowed: Iterable[str], field: str) -> None:
    """``value`` must be spelt exactly as one of a closed vocabulary (listed in the refusal)."""
    choices = tuple(allowed)
    if value not in choices:
        raise RuleViolation(f"must be one of: {', '.join(choices)}", field=field)
