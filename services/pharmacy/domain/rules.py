"""Input and clinical rules of the pharmacy decider, each refusing with the field at fault.

Messages go to HTTP clients and logs, so they name fields, units and formulary values
but never anything about the patient.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TypeVar, cast

from services.pharmacy.formulary import ATC_CODE, RXCUI, FormularyEntry
from shared.domain import require_one_of
from shared.errors import RuleViolation

from .dosing import exceeds, to_mg
from .values import (
    ALLOWED_UNITS,
    MAX_TEXT_LENGTH,
    SEVERITIES,
    DrugRef,
    Schedule,
    Severity,
)

CodeT = TypeVar("CodeT", bound=str)

MIN_TIMES_PER_DAY = 1
MAX_TIMES_PER_DAY = 24


def require_not_before(moment: datetime, reference: datetime, field: str, what: str) -> None:
    if moment < reference:
        raise RuleViolation(f"must not be before {what}", field=field)


def require_text(value: str, field: str) -> str:
    """A required short statement, trimmed; blank or overlong text is refused."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise RuleViolation("must not be empty", field=field)
    if len(text) > MAX_TEXT_LENGTH:
        raise RuleViolation(f"must be at most {MAX_TEXT_LENGTH} characters", field=field)
    return text


def optional_text(value: str | None, field: str) -> str | None:
    """An optional statement; blank counts as absent, so "" cannot pass as an override."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return require_text(value, field)


def require_code(value: str, allowed: tuple[CodeT, ...], field: str) -> CodeT:
    """One code of a closed list (``vocabulary``), spelt exactly; the refusal lists them."""
    require_one_of(value, allowed, field)
    return cast(CodeT, value)


def optional_code(value: str | None, allowed: tuple[CodeT, ...], field: str) -> CodeT | None:
    return None if value is None else require_code(value, allowed, field)


def require_dose(dose: float) -> None:
    if isinstance(dose, bool) or not isinstance(dose, int | float):
        raise RuleViolation("must be a number", field="dose")
    if not math.isfinite(dose) or dose <= 0:
        raise RuleViolation("must be a finite number greater than zero", field="dose")


def require_unit(unit: str) -> None:
    require_one_of(unit, sorted(ALLOWED_UNITS), "unit")


def require_schedule(schedule: Schedule) -> None:
    times = schedule.times_per_day
    if times is not None and not MIN_TIMES_PER_DAY <= times <= MAX_TIMES_PER_DAY:
        raise RuleViolation(
            f"must be between {MIN_TIMES_PER_DAY} and {MAX_TIMES_PER_DAY}",
            field="schedule.times_per_day",
        )


def require_drug(drug: DrugRef) -> None:
    """Codes must be well formed for their system, or a lookup would silently miss."""
    code = drug.code.strip()
    if drug.system == "ATC" and not ATC_CODE.match(code.upper()):
        raise RuleViolation("must be a level-5 ATC code such as N06AB06", field="drug.code")
    if drug.system == "RxNorm" and not RXCUI.match(code):
        raise RuleViolation("must be a numeric RxNorm RXCUI", field="drug.code")


def require_severity(severity: str) -> Severity:
    require_one_of(severity, SEVERITIES, "severity")
    return cast(Severity, severity)


def require_within_daily_maximum(
    daily: float,
    unit: str,
    entry: FormularyEntry | None,
    *,
    formulary_version: str,
    override_reason: str | None,
) -> None:
    """Refuse a daily total above the formulary's ceiling unless the prescriber says why.

    Only mass units can be compared with a ceiling in mg; a dose in tablets or mL is not
    checked because the strength per tablet or mL is not known here. A drug the formulary
    does not know has no ceiling.
    """
    limit = entry.max_daily_dose if entry is not None else None
    daily_mg = to_mg(daily, unit)
    if entry is None or limit is None or daily_mg is None or override_reason is not None:
        return
    if exceeds(daily_mg, limit.value):
        raise RuleViolation(
            f"the daily dose of {daily_mg:g} mg exceeds the maximum daily dose of "
            f"{limit.value:g} mg for {entry.name} (formulary {formulary_version}); "
            "give an override_reason to prescribe above it",
            field="dose",
        )
