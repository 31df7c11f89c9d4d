"""Closed vocabularies of the assessment record, shared by the domain and the HTTP layer.

Life events are coded rather than free text so that coordination rules (plan review due)
and dashboards can act on them without reading notes that may contain identifying detail.
"""

from __future__ import annotations

from typing import Literal, get_args

LifeEventCategory = Literal[
    "employment",
    "housing",
    "family",
    "relationship",
    "bereavement",
    "financial",
    "legal",
    "caregiving",
    "health",
    "other",
]
LifeEventDirection = Literal["worsened", "improved"]
LifeEventImpact = Literal["low", "moderate", "high"]

LIFE_EVENT_CATEGORIES: tuple[str, ...] = get_args(LifeEventCategory)
LIFE_EVENT_DIRECTIONS: tuple[str, ...] = get_args(LifeEventDirection)
LIFE_EVENT_IMPACTS: tuple[str, ...] = get_args(LifeEventImpact)

AGE_BAND_WIDTH = 10
OLDEST_AGE_BAND_START = 80
