"""Reading a patient's streams back for clients: one aggregate's events, all of a patient's
aggregates, and the history entries every service shows with an aggregate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import AwareDatetime, BaseModel

from shared.envelope import Envelope
from shared.events import DomainEvent
from shared.eventstore import EventStore


class HistoryEntry(BaseModel):
    """One stored event as clients see it in an aggregate's history."""

    version: int
    event_type: str
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    actor: str | None
    data: dict[str, object]


def history(events: Sequence[Envelope], decoded: Sequence[DomainEvent]) -> list[dict[str, Any]]:
    """Each stored event with its payload as the current model (older versions upcast)."""
    return [{"version": e.stream_version, "event_type": e.event_name, "occurred_at": e.time,
             "recorded_at": e.recorded_at, "actor": e.actor, "data": event.model_dump(mode="json")}
            for e, event in zip(events, decoded, strict=True)]


async def patient_streams(store: EventStore, patient_id: str) -> list[list[Envelope]]:
    """Every stream whose subject is the patient, each in stream order."""
    by_stream: dict[str, list[Envelope]] = defaultdict(list)
    for env in await store.read_subject(patient_id):
        by_stream[env.stream_id].append(env)
    return list(by_stream.values())


async def patient_stream(store: EventStore, stream_id: str, patient_id: str) -> list[Envelope] | None:
    """The stream, or None when it does not exist or belongs to another patient: a client
    that guesses an id of another patient learns nothing from the answer."""
    events = await store.read_stream(stream_id)
    if not events or events[0].subject != patient_id:
        return None
    return events
