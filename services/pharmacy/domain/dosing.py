"""Dose arithmetic: unit conversion, daily totals and the direction of a change.

Pure functions on numbers, kept apart from the decider so that the clinical arithmetic
can be read and tested on its own.
"""

from __future__ import annotations

import math

from .values import MG_PER_UNIT, Direction, Schedule

_RELATIVE_TOLERANCE = 1e-9
"""Doses arrive as floats (3 doses of 0.1 mg); a difference below this is rounding, not a dose."""


def to_mg(amount: float, unit: str) -> float | None:
    """The amount in mg, or None when the unit is not a mass (tablet, mL, IU, ...)."""
    factor = MG_PER_UNIT.get(unit)
    return None if factor is None else amount * factor


def doses_per_day(schedule: Schedule) -> int:
    """The most doses a day the schedule allows; one when it names no daily frequency.

    As-needed use is checked at its stated maximum (the worst case the prescription
    permits). Without a stated maximum only a single dose can be checked.
    """
    return schedule.times_per_day if schedule.times_per_day is not None else 1


def daily_dose(dose: float, schedule: Schedule) -> float:
    """The total per day in the dose's own unit."""
    return dose * doses_per_day(schedule)


def same_amount(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=_RELATIVE_TOLERANCE, abs_tol=0.0)


def exceeds(amount_mg: float, limit_mg: float) -> bool:
    return amount_mg > limit_mg and not same_amount(amount_mg, limit_mg)


def direction_of_change(previous_dose: float, previous_unit: str, dose: float, unit: str) -> Direction | None:
    """Whether a new dose is an increase, a decrease or only a change of unit.

    Mass units are compared in mg, so 0.5 g → 750 mg is an increase and 1 g → 1000 mg is
    a unit change. Other unit changes (tablet → mL) cannot be ranked. None means nothing
    changed at all.
    """
    if unit == previous_unit:
        if same_amount(dose, previous_dose):
            return None
        return "increase" if dose > previous_dose else "decrease"
    previous_mg, new_mg = to_mg(previous_dose, previous_unit), to_mg(dose, unit)
    if previous_mg is None or new_mg is None or same_amount(previous_mg, new_mg):
        return "unit_change"
    return "increase" if new_mg > previous_mg else "decrease"
