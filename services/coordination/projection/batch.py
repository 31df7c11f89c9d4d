"""One batch of events into timeline rows and new summaries: the pure heart of the projection.

``project(summaries, facts)`` folds each fact into its patient's summary in the order given
(the runner keeps each partition's order, so each stream's order) and gives a timeline row
per fact with the summary text as of just before it. No I/O: the shell loads the summaries,
calls this and writes what it returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.coordination.projection.describe import describe
from services.coordination.projection.facts import Fact
from services.coordination.projection.fold import fold
from services.coordination.projection.state import PatientSummary, empty

NOT_DATA = {"patient_id", "occurred_at"}  # the entry has them as columns


@dataclass(frozen=True, slots=True)
class TimelineRow:
    event_id: uuid.UUID
    patient_id: str
    clinic_id: str
    occurred_at: datetime
    recorded_at: datetime
    service: str
    type: str
    stream_id: str
    sequence: int
    summary: str
    data: dict[str, Any]


def coded(fact: Fact) -> dict[str, Any]:
    """The event's coded fields: the reader models hold nothing else (no free text, no
    identity), so their fields are what the timeline may show."""
    return fact.body.model_dump(mode="json", exclude=NOT_DATA)


def project(summaries: Mapping[str, PatientSummary], facts: Sequence[Fact]
            ) -> tuple[list[TimelineRow], dict[str, PatientSummary]]:
    """Timeline rows for ``facts`` and the summaries of the patients they changed."""
    current = dict(summaries)
    changed: dict[str, PatientSummary] = {}
    rows = []
    for f in facts:
        before = current.get(f.patient_id) or empty(f.patient_id, f.clinic_id)
        rows.append(TimelineRow(f.event_id, f.patient_id, f.clinic_id, f.occurred_at, f.recorded_at,
                                f.service, f.event_name, f.stream_id, f.sequence, describe(before, f),
                                coded(f)))
        current[f.patient_id] = changed[f.patient_id] = fold(before, f)
    return rows, changed
