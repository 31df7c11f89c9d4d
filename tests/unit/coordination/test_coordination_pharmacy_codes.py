"""Coordination's labels for pharmacy's codes cover every code pharmacy publishes (the lists
live in two services that do not import each other; this test is where they meet)."""

from __future__ import annotations

from services.coordination.ui.vocabulary import (
    DISCONTINUATION_REASON_LABELS,
    DOSE_CHANGE_REASON_LABELS,
    OVERRIDE_REASON_LABELS,
    page_vocabulary,
)
from services.pharmacy.domain import (
    ADVERSE_EFFECTS,
    DISCONTINUATION_REASONS,
    DOSE_CHANGE_REASONS,
    OVERRIDE_REASONS,
)


def test_every_pharmacy_code_has_a_label_and_every_list_has_other() -> None:
    pharmacy = page_vocabulary()["pharmacy"]
    for codes, labels in ((DOSE_CHANGE_REASONS, DOSE_CHANGE_REASON_LABELS),
                          (DISCONTINUATION_REASONS, DISCONTINUATION_REASON_LABELS),
                          (OVERRIDE_REASONS, OVERRIDE_REASON_LABELS),
                          (ADVERSE_EFFECTS, pharmacy["adverse_effects"])):
        assert list(labels) == list(codes) and "other" in codes
