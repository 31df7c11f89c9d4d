"""One patient's history as the rules engine reads it.

The coordination projection builds these from Kafka envelopes of all four topics. The rules
never see an envelope or another service's pydantic model: services do not import each other,
so the payload stays the JSON dict the producer published and is read by field name in
:mod:`.reading` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.envelope import Envelope

Service = Literal["assessment", "pharmacy", "therapy", "coordination"]
SERVICES: frozenset[str] = frozenset({"assessment", "pharmacy", "therapy", "coordination"})


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    event_id: str
    service: str  # one of SERVICES; another service's event is carried but ignored by every rule
    event_name: str
    occurred_at: datetime  # clinical time: the rules work in it
    recorded_at: datetime  # when the system learned it: decides what is known "as of T"
    stream_id: str
    payload: Mapping[str, Any]

    def __post_init__(self) -> None:
        # A naive time cannot be placed on the patient's timeline; refusing it here keeps
        # every comparison in the rules well defined.
        for name in ("occurred_at", "recorded_at"):
            moment = getattr(self, name)
            if moment.utcoffset() is None:
                raise ValueError(f"HistoryEvent.{name} must be timezone-aware")

    @property
    def order_key(self) -> tuple[datetime, datetime, str]:
        """Event-time order; ties by when it was recorded, then by id, so a replay sorts alike."""
        return (self.occurred_at, self.recorded_at, self.event_id)

    @classmethod
    def from_envelope(cls, env: Envelope) -> HistoryEvent:
        # A producer that stamps no recorded_at is taken to have recorded on occurrence, as the
        # projection's timeline does.
        return cls(event_id=str(env.id), service=env.service, event_name=env.event_name, occurred_at=env.time,
                   recorded_at=env.recorded_at or env.time, stream_id=env.stream_id, payload=env.payload)


def known_as_of(history: Iterable[HistoryEvent], as_of: datetime) -> list[HistoryEvent]:
    """The events that had been recorded by ``as_of`` and had happened by then, in event-time order.

    An event recorded by ``as_of`` but dated later (a dose effective tomorrow) has not happened
    yet at ``as_of``; it is left out so that no flag is raised or resolved in the future. A
    redelivered event (same id) counts once.
    """
    if as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    seen: set[str] = set()
    known: list[HistoryEvent] = []
    for event in sorted(history, key=lambda e: e.order_key):
        if event.recorded_at <= as_of and event.occurred_at <= as_of and event.event_id not in seen:
            seen.add(event.event_id)
            known.append(event)
    return known
