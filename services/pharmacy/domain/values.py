"""Value objects shared by the pharmacy commands and events, and the vocabularies they use.

They are frozen pydantic models because they travel inside event payloads: the stored,
hashed and published JSON is exactly what these models dump.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.pharmacy.formulary import CodeSystem

Severity = Literal["mild", "moderate", "severe"]
SEVERITIES: tuple[Severity, ...] = ("mild", "moderate", "severe")

Direction = Literal["increase", "decrease", "unit_change"]

CourseStatus = Literal["active", "discontinued"]

ALLOWED_UNITS: frozenset[str] = frozenset({"mg", "mcg", "g", "mL", "drop", "tablet", "patch", "IU"})
"""Units a dose may be prescribed in. Spelling is exact ("mL", "IU") so that two
prescriptions of one course never differ only by how a unit was typed."""

MG_PER_UNIT: dict[str, float] = {"mcg": 0.001, "mg": 1.0, "g": 1000.0}
"""Mass units and their size in mg; only these can be compared with a maximum daily dose."""

MAX_TEXT_LENGTH = 500
"""Route and ids are short statements; reasons and effects are codes (``vocabulary``)."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DrugRef(_Value):
    """An ingredient code and, on an event, the formulary's display name for it.

    The name is never the client's text (anything typed would reach Kafka for good): the
    decider sets the formulary's name for a code it knows and none for one it does not.
    """

    code: str
    system: CodeSystem
    name: str | None = None


class Schedule(_Value):
    """How often the dose is taken.

    ``times_per_day`` is the number of doses per day; with ``as_needed`` it is the most
    the prescription allows. None means no daily frequency (at most one dose a day, such
    as a weekly tablet or a patch changed every few days, or as needed without a stated
    maximum).
    """

    times_per_day: int | None = None
    as_needed: bool = False


class MaxDailyDose(_Value):
    value: float
    unit: Literal["mg"] = "mg"


class FormularySnapshot(_Value):
    """What the formulary knew about the drug when it was started.

    Kept in the event so that replays and audits see the flags and limits that applied
    then, even after a later formulary version changes them. An unknown drug is recorded
    with ``known=False`` and no flags; an ATC code sent by the prescriber still gives its
    ATC group.
    """

    version: str
    known: bool
    atc: str | None = None
    therapeutic_class: str | None = None
    opioid: bool = False
    benzodiazepine: bool = False
    serotonergic: bool = False
    qt_prolonging: bool = False
    cns_depressant: bool = False
    max_daily_dose: MaxDailyDose | None = None
