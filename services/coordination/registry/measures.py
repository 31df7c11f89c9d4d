"""The care-process quality measures: every definition, in one place, pure.

Each measure is a function of a patient's :class:`~.record.CareRecord` (the history known at
``as_of``) and ``as_of``; :func:`compute` groups patients by clinic and month. No clock, no I/O:
the same history gives the same numbers live, in a replay, and as of any earlier moment.

Days are counted by calendar date (UTC) from the start of care (day 0: the enrolment or the
first contact, whichever came first); week n ends on day 7n. A measure whose window has not
closed by ``as_of`` leaves the patient out until it has, so a month's rate does not rise while
its patients are still within their window. Cohort measures count a patient in the month their
care started; polypharmacy counts each calendar month a patient was in care.

Sources: Bao Y, Druss BG, Jung HY, Chan YF, Unützer J. Unpacking collaborative care for
depression: examining two essential tasks for implementation. Psychiatric Services
2016;67(4):418–424 (first published online 2015): a follow-up contact within 4 weeks of the
initial contact, and a psychiatric case review in weeks 8–12 for patients not improved by week
8; improvement = PHQ-9 below 10 or a drop of at least 50% from baseline. Response (a drop of at
least 50%) and remission (PHQ-9 below 5) at 12 and 24 weeks ± 2 weeks take the conventions of
the NCQA HEDIS measure "Depression Remission or Response" (DRR-E): a baseline PHQ-9 of 10 or more,
and a patient without a PHQ-9 in the window counts in the denominator and not the numerator.
Polypharmacy: Masnoon N et al., BMC Geriatrics 2017;17:230 (five or more drugs).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from .record import POLYPHARMACY_DRUGS, CareRecord, Reading

VERSION = 1
"""Of the definitions as a whole; each measure has its own version too."""

FOLLOW_UP_DAYS = 28
WEEK_8, WEEK_12 = 56, 84
ELEVATED = 10  # baseline PHQ-9 from which response and remission are measured
REMISSION_BELOW = 5
WINDOW_HALF_WIDTH = 14  # ± 2 weeks around week 12 and week 24


def improved(baseline: int, score: int) -> bool:
    """PHQ-9 below 10, or at least 50% below the baseline (Bao et al.)."""
    return score < ELEVATED or 2 * score <= baseline


def responded(baseline: int, score: int) -> bool:
    return 2 * score <= baseline


def remitted(score: int) -> bool:
    return score < REMISSION_BELOW


class Outcome(NamedTuple):
    """A patient's place in one measure: in the numerator or not; ``days`` for a median."""

    met: bool
    days: int | None = None


Definition = Callable[[CareRecord, datetime], Outcome | None]
"""None: not in the denominator (not eligible, or the window has not closed by ``as_of``)."""


# --------------------------------------------------------------------------- definitions


def follow_up_4w(r: CareRecord, as_of: datetime) -> Outcome | None:
    """Every patient, once day 28 has passed: a contact on days 1–28."""
    if r.day(as_of) <= FOLLOW_UP_DAYS:
        return None
    return Outcome(any(1 <= d <= FOLLOW_UP_DAYS for d in r.contact_days))


def _not_improved_by_week_8(r: CareRecord) -> bool:
    """A baseline PHQ-9 ≥ 10 and the latest PHQ-9 by day 56 not improved, still in care on day 56."""
    baseline = r.baseline
    if baseline is None or baseline.total < ELEVATED or baseline.day > WEEK_8:
        return False
    if r.discharged_at is not None and r.day(r.discharged_at) < WEEK_8:
        return False
    latest = [s for s in r.phq9 if s.day <= WEEK_8][-1]
    return not improved(baseline.total, latest.total)


def case_review_8_12w(r: CareRecord, as_of: datetime) -> Outcome | None:
    """Not improved by week 8, once day 84 has passed: a case conference or an escalation on days 56–84."""
    if r.day(as_of) <= WEEK_12 or not _not_improved_by_week_8(r):
        return None
    reviews = (*r.conference_days, *r.escalation_days)
    return Outcome(any(WEEK_8 <= d <= WEEK_12 for d in reviews))


def nonresponse_to_escalation(r: CareRecord, as_of: datetime) -> Outcome | None:
    """Not improved by week 8, from day 56 on: escalated on or after day 56, and how many days after it."""
    if r.day(as_of) < WEEK_8 or not _not_improved_by_week_8(r):
        return None
    days = [d - WEEK_8 for d in r.escalation_days if d >= WEEK_8]
    return Outcome(bool(days), min(days) if days else None)


def _at_week(r: CareRecord, as_of: datetime, week: int) -> tuple[Reading, Reading | None] | None:
    """(baseline, the PHQ-9 in the window nearest its target day, later on a tie), once the
    window has closed, for a baseline ≥ 10 taken before the window."""
    target = 7 * week
    first, last = target - WINDOW_HALF_WIDTH, target + WINDOW_HALF_WIDTH
    baseline = r.baseline
    if baseline is None or baseline.total < ELEVATED or baseline.day >= first or r.day(as_of) <= last:
        return None
    inside = [s for s in r.phq9 if first <= s.day <= last]
    nearest = min(inside, key=lambda s: (abs(s.day - target), -s.day), default=None)
    return baseline, nearest


def response_at(week: int) -> Definition:
    def measure(r: CareRecord, as_of: datetime) -> Outcome | None:
        found = _at_week(r, as_of, week)
        if found is None:
            return None
        baseline, score = found
        return Outcome(score is not None and responded(baseline.total, score.total))
    return measure


def remission_at(week: int) -> Definition:
    def measure(r: CareRecord, as_of: datetime) -> Outcome | None:
        found = _at_week(r, as_of, week)
        return None if found is None else Outcome(found[1] is not None and remitted(found[1].total))
    return measure


def in_care_during(r: CareRecord, start: datetime, end: datetime, as_of: datetime) -> bool:
    """The month had begun by ``as_of``, care started before its end (and by ``as_of``), and the
    patient was not discharged before it began."""
    discharged_before = r.discharged_at is not None and r.discharged_at < start
    return start <= as_of and r.start < min(end, as_of) and not discharged_before


def polypharmacy_in(r: CareRecord, start: datetime, end: datetime, as_of: datetime) -> Outcome | None:
    """In care during the month: five or more distinct drugs active at some moment of it (up to ``as_of``)."""
    if not in_care_during(r, start, end, as_of):
        return None
    until = min(end, as_of)
    return Outcome(any(a < until and (b is None or b > start) for a, b in r.polypharmacy))


# --------------------------------------------------------------------------- catalogue


@dataclass(frozen=True, slots=True)
class Measure:
    measure_id: str
    version: int
    title: str
    definition: str
    source: str
    kind: Literal["proportion", "median"] = "proportion"
    attribution: Literal["start_month", "calendar_month"] = "start_month"
    evaluate: Definition | None = field(default=None, repr=False, compare=False)


BAO = "Bao et al., Psychiatric Services 2016;67(4):418-424 (online 2015)"
HEDIS = "conventions of NCQA HEDIS Depression Remission or Response (DRR-E); windows of this registry"

MEASURES: tuple[Measure, ...] = (
    Measure("follow_up_4w", 1, "Follow-up within 4 weeks",
            "Patients whose care started in the month and whose day 28 has passed; numerator: a contact "
            "(questionnaire or attended session) on days 1-28 after the start of care.", BAO, evaluate=follow_up_4w),
    Measure("case_review_8_12w", 1, "Case review in weeks 8-12 for patients not improved by week 8",
            "Patients with a baseline PHQ-9 >= 10 whose latest PHQ-9 by day 56 is not improved (improved: "
            "below 10 or at least 50% below baseline), in care on day 56, day 84 passed; numerator: a case "
            "conference or an escalation on days 56-84.", BAO, evaluate=case_review_8_12w),
    Measure("response_12w", 1, "Response at 12 weeks",
            "Patients with a baseline PHQ-9 >= 10, day 98 passed; numerator: the PHQ-9 on days 70-98 nearest "
            "day 84 is at most half the baseline.", HEDIS, evaluate=response_at(12)),
    Measure("remission_12w", 1, "Remission at 12 weeks",
            "Patients with a baseline PHQ-9 >= 10, day 98 passed; numerator: the PHQ-9 on days 70-98 nearest "
            "day 84 is below 5.", HEDIS, evaluate=remission_at(12)),
    Measure("response_24w", 1, "Response at 24 weeks",
            "Patients with a baseline PHQ-9 >= 10, day 182 passed; numerator: the PHQ-9 on days 154-182 "
            "nearest day 168 is at most half the baseline.", HEDIS, evaluate=response_at(24)),
    Measure("remission_24w", 1, "Remission at 24 weeks",
            "Patients with a baseline PHQ-9 >= 10, day 182 passed; numerator: the PHQ-9 on days 154-182 "
            "nearest day 168 is below 5.", HEDIS, evaluate=remission_at(24)),
    Measure("nonresponse_to_escalation_days", 1, "Days from non-response to escalation",
            "Patients not improved by week 8 (as for the case review), from day 56 on; numerator: those with "
            "an escalation decided on or after day 56; the value is the median of days from day 56 to the "
            "first such escalation.", BAO, kind="median", evaluate=nonresponse_to_escalation),
    Measure("polypharmacy", 1, "Polypharmacy prevalence",
            f"Patients in care during the calendar month (started before its end, not discharged before its "
            f"start); numerator: {POLYPHARMACY_DRUGS} or more distinct drugs active at once at some moment of "
            f"the month.", "Masnoon et al., BMC Geriatrics 2017;17:230", attribution="calendar_month"),
)
MEASURES_BY_ID = {m.measure_id: m for m in MEASURES}


# --------------------------------------------------------------------------- months and results


class Month(NamedTuple):
    year: int
    month: int

    @classmethod
    def of(cls, at: datetime) -> Month:
        utc = at.astimezone(UTC)
        return cls(utc.year, utc.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``2026-03`` (or a date in it, ``2026-03-15``)."""
        parts = text.split("-")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ValueError("a month is YYYY-MM")
        month = cls(int(parts[0]), int(parts[1]))
        if not 1 <= month.month <= 12 or month.year < 1900:
            raise ValueError("a month is YYYY-MM")
        return month

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


MAX_MONTHS = 60  # months in one query


class PeriodError(ValueError):
    """A ``from``/``to`` that names no period the measures are given for; ``field`` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def default_period(as_of: datetime) -> tuple[Month, Month]:
    """The twelve months up to the month of ``as_of``."""
    last = Month.of(as_of)
    return Month(last.year - 1, last.month).next(), last


def period(as_of: datetime, first: str | None, last: str | None) -> tuple[Month, Month]:
    """``from`` and ``to`` (``YYYY-MM``, either may be left out) as the measures read them: ``to``
    defaults to the month of ``as_of``, ``from`` to eleven months before ``to``, at most
    ``MAX_MONTHS`` months."""

    def parsed(field: str, text: str | None, default: Month) -> Month:
        if text is None:
            return default
        try:
            return Month.parse(text)
        except ValueError as exc:
            raise PeriodError(field, str(exc)) from None

    to = parsed("to", last, Month.of(as_of))
    frm = parsed("from", first, default_period(to.start)[0])
    if frm > to:
        raise PeriodError("from", "from is after to")
    if (to.year - frm.year) * 12 + to.month - frm.month >= MAX_MONTHS:
        raise PeriodError("from", f"at most {MAX_MONTHS} months at once")
    return frm, to


def months(first: Month, last: Month) -> list[Month]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = m.next()
    return out


@dataclass(frozen=True, slots=True)
class Cell:
    """One measure for one clinic and month."""

    clinic_id: str
    month: Month
    measure_id: str
    numerator: tuple[str, ...]  # patient ids, sorted
    denominator: tuple[str, ...]
    median_days: float | None = None

    @property
    def rate(self) -> float | None:
        return round(len(self.numerator) / len(self.denominator), 4) if self.denominator else None


@dataclass(frozen=True, slots=True)
class MeasuresResult:
    as_of: datetime
    first: Month
    last: Month
    clinics: tuple[str, ...]
    cells: tuple[Cell, ...]  # by clinic, month, then the catalogue's order

    def cell(self, clinic_id: str, month: Month | str, measure_id: str) -> Cell:
        return next(c for c in self.cells if c.clinic_id == clinic_id and str(c.month) == str(month)
                    and c.measure_id == measure_id)


def _cell(clinic: str, month: Month, m: Measure, outcomes: Sequence[tuple[str, Outcome]]) -> Cell:
    days = [o.days for _, o in outcomes if o.met and o.days is not None]
    return Cell(clinic, month, m.measure_id, tuple(sorted(p for p, o in outcomes if o.met)),
                tuple(sorted(p for p, _ in outcomes)),
                float(statistics.median(days)) if m.kind == "median" and days else None)


def compute(records: Iterable[CareRecord], as_of: datetime, first: Month, last: Month,
            clinics: Iterable[str]) -> MeasuresResult:
    """Every measure for every clinic and month from ``first`` to ``last``, from the records known at ``as_of``."""
    span = months(first, last)
    wanted = set(span)
    bounds = [(month, month.start, month.end) for month in span]
    clinic_ids = tuple(sorted(set(clinics)))
    found: dict[tuple[str, Month, str], list[tuple[str, Outcome]]] = {}
    for r in records:
        started = Month.of(r.start)
        for m in MEASURES:
            if m.attribution == "start_month":
                if started not in wanted or m.evaluate is None:
                    continue
                outcome = m.evaluate(r, as_of)
                if outcome is not None:
                    found.setdefault((r.clinic_id, started, m.measure_id), []).append((r.patient_id, outcome))
            else:
                for month, start, end in bounds:
                    if month < started:
                        continue
                    outcome = polypharmacy_in(r, start, end, as_of)
                    if outcome is not None:
                        found.setdefault((r.clinic_id, month, m.measure_id), []).append((r.patient_id, outcome))
    cells = tuple(_cell(c, month, m, found.get((c, month, m.measure_id), ()))
                  for c in clinic_ids for month in span for m in MEASURES)
    return MeasuresResult(as_of, first, last, clinic_ids, cells)
