"""Validated measurement instruments and their scoring.

Scores drive risk flags and stepped-care decisions, so a total is only ever computed here,
from the raw item answers, using the published cut-offs. A client may send its own total,
but it is only a cross-check: a disagreement means the client and the server are reading
different instruments, and the assessment is refused rather than silently corrected.

Refusal reasons name the item position and the allowed range, never the submitted values,
because they reach HTTP responses and logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeGuard

from shared.errors import RuleViolation


@dataclass(frozen=True)
class Instrument:
    """One questionnaire: its item layout, its severity bands and where they come from.

    ``bands`` is ordered by ascending lower bound; the first band starts at 0, so every
    valid total falls into exactly one band.
    """

    code: str
    name: str
    item_count: int
    item_min: int
    item_max: int
    bands: tuple[tuple[int, str], ...]
    loinc: str | None
    source: str
    safety_item_index: int | None = None

    @property
    def max_total(self) -> int:
        return self.item_count * self.item_max

    def band_for(self, total: int) -> str:
        """The label of the highest band whose lower bound the total reaches."""
        label = self.bands[0][1]
        for lower_bound, band_label in self.bands:
            if total >= lower_bound:
                label = band_label
        return label


@dataclass(frozen=True)
class Score:
    """A scored administration, ready to be put into an AssessmentRecorded event."""

    instrument: str
    item_scores: tuple[int, ...]
    total: int
    band: str
    max_total: int
    safety_item_positive: bool
    loinc: str | None


PHQ9 = Instrument(
    code="PHQ-9",
    name="Patient Health Questionnaire-9 (depression)",
    item_count=9,
    item_min=0,
    item_max=3,
    bands=(
        (0, "minimal"),
        (5, "mild"),
        (10, "moderate"),
        (15, "moderately_severe"),
        (20, "severe"),
    ),
    loinc="44261-6",
    source=(
        "Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression "
        "severity measure. J Gen Intern Med. 2001;16(9):606-613."
    ),
    safety_item_index=8,
)

GAD7 = Instrument(
    code="GAD-7",
    name="Generalized Anxiety Disorder-7",
    item_count=7,
    item_min=0,
    item_max=3,
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
    loinc="70274-6",
    source=(
        "Spitzer RL, Kroenke K, Williams JBW, Löwe B. A brief measure for assessing "
        "generalized anxiety disorder: the GAD-7. Arch Intern Med. 2006;166(10):1092-1097."
    ),
)

PHQ15 = Instrument(
    code="PHQ-15",
    name="Patient Health Questionnaire-15 (somatic symptoms)",
    item_count=15,
    item_min=0,
    item_max=2,
    bands=((0, "minimal"), (5, "low"), (10, "medium"), (15, "high")),
    loinc="70273-8",
    source=(
        "Kroenke K, Spitzer RL, Williams JBW. The PHQ-15: validity of a new measure for "
        "evaluating the severity of somatic symptoms. Psychosom Med. 2002;64(2):258-266."
    ),
)

ISI = Instrument(
    code="ISI",
    name="Insomnia Severity Index",
    item_count=7,
    item_min=0,
    item_max=4,
    bands=(
        (0, "no_clinically_significant_insomnia"),
        (8, "subthreshold"),
        (15, "moderate"),
        (22, "severe"),
    ),
    loinc=None,
    source=(
        "Bastien CH, Vallières A, Morin CM. Validation of the Insomnia Severity Index as an "
        "outcome measure for insomnia research. Sleep Med. 2001;2(4):297-307."
    ),
)

WSAS = Instrument(
    code="WSAS",
    name="Work and Social Adjustment Scale",
    item_count=5,
    item_min=0,
    item_max=8,
    bands=((0, "subclinical"), (10, "moderate_impairment"), (20, "severe_impairment")),
    loinc=None,
    source=(
        "Mundt JC, Marks IM, Shear MK, Greist JH. The Work and Social Adjustment Scale: a "
        "simple measure of impairment in functioning. Br J Psychiatry. 2002;180:461-464."
    ),
)

PAIN_NRS = Instrument(
    code="PAIN-NRS",
    name="Pain intensity, 0-10 numeric rating scale",
    item_count=1,
    item_min=0,
    item_max=10,
    bands=((0, "none"), (1, "mild"), (4, "moderate"), (7, "severe")),
    loinc="72514-3",
    source=(
        "Serlin RC, Mendoza TR, Nakamura Y, Edwards KR, Cleeland CS. When is cancer pain "
        "mild, moderate or severe? Grading pain severity by its interference with function. "
        "Pain. 1995;61(2):277-284."
    ),
)

INSTRUMENTS: Mapping[str, Instrument] = MappingProxyType(
    {instrument.code: instrument for instrument in (PHQ9, GAD7, PHQ15, ISI, WSAS, PAIN_NRS)}
)
INSTRUMENT_CODES: tuple[str, ...] = tuple(INSTRUMENTS)


def _is_integer(value: object) -> TypeGuard[int]:
    """True for real integers only: a bool or a float like 2.0 is a client bug, not a score."""
    return isinstance(value, int) and not isinstance(value, bool)


def get_instrument(instrument_code: str) -> Instrument:
    instrument = INSTRUMENTS.get(instrument_code)
    if instrument is None:
        raise RuleViolation(
            f"unknown instrument; allowed: {', '.join(INSTRUMENT_CODES)}", field="instrument"
        )
    return instrument


def _validated_items(instrument: Instrument, item_scores: object) -> tuple[int, ...]:
    if not isinstance(item_scores, Sequence) or isinstance(item_scores, str | bytes):
        raise RuleViolation("must be a list of integers", field="item_scores")
    if len(item_scores) != instrument.item_count:
        raise RuleViolation(
            f"{instrument.code} needs exactly {instrument.item_count} item scores",
            field="item_scores",
        )
    validated: list[int] = []
    for index, value in enumerate(item_scores):
        field = f"item_scores[{index}]"
        if not _is_integer(value):
            raise RuleViolation("must be an integer", field=field)
        if not instrument.item_min <= value <= instrument.item_max:
            raise RuleViolation(
                f"must be between {instrument.item_min} and {instrument.item_max}", field=field
            )
        validated.append(value)
    return tuple(validated)


def score(
    instrument_code: str, item_scores: Sequence[object], client_total: int | None = None
) -> Score:
    """Validate the item answers of one administration and score it.

    Raises RuleViolation naming the offending field: ``instrument``, ``item_scores``,
    ``item_scores[i]`` or ``total``.
    """
    instrument = get_instrument(instrument_code)
    items = _validated_items(instrument, item_scores)
    total = sum(items)
    if client_total is not None:
        if not _is_integer(client_total):
            raise RuleViolation("must be an integer", field="total")
        if client_total != total:
            raise RuleViolation(
                "does not match the total computed from the item scores", field="total"
            )
    safety_item_positive = (
        instrument.safety_item_index is not None and items[instrument.safety_item_index] > 0
    )
    return Score(
        instrument=instrument.code,
        item_scores=items,
        total=total,
        band=instrument.band_for(total),
        max_total=instrument.max_total,
        safety_item_positive=safety_item_positive,
        loinc=instrument.loinc,
    )
