"""Scoring of every instrument against its published cut-offs, and refusal of bad input."""

from __future__ import annotations

import pytest

from services.assessment.domain.instruments import INSTRUMENT_CODES, INSTRUMENTS, score
from shared.errors import RuleViolation


def items_summing_to(instrument_code: str, total: int) -> list[int]:
    """Valid item answers with the given total, filled from the first item on."""
    instrument = INSTRUMENTS[instrument_code]
    items: list[int] = []
    remaining = total
    for _ in range(instrument.item_count):
        value = min(instrument.item_max, remaining)
        items.append(value)
        remaining -= value
    assert remaining == 0, "total out of range for the instrument"
    return items


BAND_EDGES = [
    ("PHQ-9", 0, "minimal"),
    ("PHQ-9", 4, "minimal"),
    ("PHQ-9", 5, "mild"),
    ("PHQ-9", 9, "mild"),
    ("PHQ-9", 10, "moderate"),
    ("PHQ-9", 14, "moderate"),
    ("PHQ-9", 15, "moderately_severe"),
    ("PHQ-9", 19, "moderately_severe"),
    ("PHQ-9", 20, "severe"),
    ("PHQ-9", 27, "severe"),
    ("GAD-7", 0, "minimal"),
    ("GAD-7", 4, "minimal"),
    ("GAD-7", 5, "mild"),
    ("GAD-7", 9, "mild"),
    ("GAD-7", 10, "moderate"),
    ("GAD-7", 14, "moderate"),
    ("GAD-7", 15, "severe"),
    ("GAD-7", 21, "severe"),
    ("PHQ-15", 0, "minimal"),
    ("PHQ-15", 4, "minimal"),
    ("PHQ-15", 5, "low"),
    ("PHQ-15", 9, "low"),
    ("PHQ-15", 10, "medium"),
    ("PHQ-15", 14, "medium"),
    ("PHQ-15", 15, "high"),
    ("PHQ-15", 30, "high"),
    ("ISI", 0, "no_clinically_significant_insomnia"),
    ("ISI", 7, "no_clinically_significant_insomnia"),
    ("ISI", 8, "subthreshold"),
    ("ISI", 14, "subthreshold"),
    ("ISI", 15, "moderate"),
    ("ISI", 21, "moderate"),
    ("ISI", 22, "severe"),
    ("ISI", 28, "severe"),
    ("WSAS", 0, "subclinical"),
    ("WSAS", 9, "subclinical"),
    ("WSAS", 10, "moderate_impairment"),
    ("WSAS", 19, "moderate_impairment"),
    ("WSAS", 20, "severe_impairment"),
    ("WSAS", 40, "severe_impairment"),
    ("PAIN-NRS", 0, "none"),
    ("PAIN-NRS", 1, "mild"),
    ("PAIN-NRS", 3, "mild"),
    ("PAIN-NRS", 4, "moderate"),
    ("PAIN-NRS", 6, "moderate"),
    ("PAIN-NRS", 7, "severe"),
    ("PAIN-NRS", 10, "severe"),
]


@pytest.mark.parametrize(("code", "total", "band"), BAND_EDGES)
def test_total_falls_into_published_band(code: str, total: int, band: str) -> None:
    result = score(code, items_summing_to(code, total), None)

    assert result.total == total
    assert result.band == band


@pytest.mark.parametrize(
    ("code", "item_count", "item_max", "max_total", "loinc"),
    [
        ("PHQ-9", 9, 3, 27, "44261-6"),
        ("GAD-7", 7, 3, 21, "70274-6"),
        ("PHQ-15", 15, 2, 30, "70273-8"),
        ("ISI", 7, 4, 28, None),
        ("WSAS", 5, 8, 40, None),
        ("PAIN-NRS", 1, 10, 10, "72514-3"),
    ],
)
def test_minimum_and_maximum_totals(
    code: str, item_count: int, item_max: int, max_total: int, loinc: str | None
) -> None:
    lowest = score(code, [0] * item_count, 0)
    highest = score(code, [item_max] * item_count, max_total)

    assert (lowest.total, lowest.max_total, lowest.loinc) == (0, max_total, loinc)
    assert (highest.total, highest.max_total, highest.loinc) == (max_total, max_total, loinc)
    assert highest.instrument == code
    assert highest.item_scores == tuple([item_max] * item_count)


def test_instrument_table_covers_the_six_instruments_with_ordered_bands() -> None:
    assert INSTRUMENT_CODES == ("PHQ-9", "GAD-7", "PHQ-15", "ISI", "WSAS", "PAIN-NRS")
    for instrument in INSTRUMENTS.values():
        lower_bounds = [lower for lower, _ in instrument.bands]
        assert lower_bounds[0] == 0
        assert lower_bounds == sorted(set(lower_bounds))
        assert instrument.source


@pytest.mark.parametrize("answer", [1, 2, 3])
def test_phq9_item_9_above_zero_is_a_safety_concern(answer: int) -> None:
    result = score("PHQ-9", [0, 0, 0, 0, 0, 0, 0, 0, answer], None)

    assert result.safety_item_positive is True
    assert result.band == "minimal"


def test_phq9_high_total_with_item_9_at_zero_is_not_a_safety_concern() -> None:
    result = score("PHQ-9", [3, 3, 3, 3, 3, 3, 3, 3, 0], 24)

    assert result.safety_item_positive is False
    assert result.band == "severe"


@pytest.mark.parametrize("code", ["GAD-7", "PHQ-15", "ISI", "WSAS", "PAIN-NRS"])
def test_other_instruments_have_no_safety_item(code: str) -> None:
    instrument = INSTRUMENTS[code]
    result = score(code, [instrument.item_max] * instrument.item_count, None)

    assert result.safety_item_positive is False


def test_unknown_instrument_is_refused_listing_allowed_codes_without_echo() -> None:
    with pytest.raises(RuleViolation) as refused:
        score("PHQ-8", [0] * 8, None)

    assert refused.value.field == "instrument"
    assert refused.value.reason == (
        "unknown instrument; allowed: PHQ-9, GAD-7, PHQ-15, ISI, WSAS, PAIN-NRS"
    )
    assert "PHQ-8" not in refused.value.reason


@pytest.mark.parametrize("item_scores", [[], [1] * 8, [1] * 10])
def test_wrong_item_count_is_refused_with_expected_count(item_scores: list[int]) -> None:
    with pytest.raises(RuleViolation) as refused:
        score("PHQ-9", item_scores, None)

    assert refused.value.field == "item_scores"
    assert refused.value.reason == "PHQ-9 needs exactly 9 item scores"


@pytest.mark.parametrize("item_scores", ["012345678", b"012345678", None, 9, {"a": 1}])
def test_item_scores_that_are_not_a_list_are_refused(item_scores: object) -> None:
    with pytest.raises(RuleViolation) as refused:
        score("PHQ-9", item_scores, None)  # type: ignore[arg-type]

    assert refused.value.field == "item_scores"
    assert refused.value.reason == "must be a list of integers"


@pytest.mark.parametrize(
    ("code", "bad_value", "reason"),
    [
        ("PHQ-9", 4, "must be between 0 and 3"),
        ("PHQ-9", -1, "must be between 0 and 3"),
        ("GAD-7", 77, "must be between 0 and 3"),
        ("PHQ-15", 3, "must be between 0 and 2"),
        ("ISI", 5, "must be between 0 and 4"),
        ("WSAS", 9, "must be between 0 and 8"),
        ("PAIN-NRS", 11, "must be between 0 and 10"),
        ("PAIN-NRS", -3, "must be between 0 and 10"),
    ],
)
def test_out_of_range_item_is_refused_naming_its_index(
    code: str, bad_value: int, reason: str
) -> None:
    items: list[object] = [0] * INSTRUMENTS[code].item_count
    index = len(items) - 1
    items[index] = bad_value

    with pytest.raises(RuleViolation) as refused:
        score(code, items, None)

    assert refused.value.field == f"item_scores[{index}]"
    assert refused.value.reason == reason


@pytest.mark.parametrize("bad_value", [2.0, 1.5, True, False, "2", None, [1]])
def test_non_integer_item_is_refused(bad_value: object) -> None:
    items: list[object] = [1, 1, bad_value, 1, 1, 1, 1]

    with pytest.raises(RuleViolation) as refused:
        score("GAD-7", items, None)

    assert refused.value.field == "item_scores[2]"
    assert refused.value.reason == "must be an integer"


def test_first_invalid_item_is_the_one_reported() -> None:
    with pytest.raises(RuleViolation) as refused:
        score("PHQ-9", [0, 9, 0, 0, 0, 0, 0, 0, 2.0], None)

    assert refused.value.field == "item_scores[1]"


def test_disagreeing_client_total_is_refused_without_echoing_totals() -> None:
    with pytest.raises(RuleViolation) as refused:
        score("PHQ-9", [1, 1, 1, 1, 1, 1, 1, 1, 1], 10)

    assert refused.value.field == "total"
    assert refused.value.reason == "does not match the total computed from the item scores"


@pytest.mark.parametrize("client_total", [9.0, True, "9"])
def test_client_total_must_be_an_integer(client_total: object) -> None:
    with pytest.raises(RuleViolation) as refused:
        score("PHQ-9", [1] * 9, client_total)  # type: ignore[arg-type]

    assert refused.value.field == "total"
    assert refused.value.reason == "must be an integer"


def test_agreeing_client_total_is_accepted() -> None:
    result = score("GAD-7", [3, 2, 1, 0, 3, 2, 1], 12)

    assert result.total == 12
    assert result.band == "moderate"


def test_tuple_of_items_is_accepted() -> None:
    assert score("WSAS", (2, 2, 2, 2, 2), None).total == 10
