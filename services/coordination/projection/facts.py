"""An event as the projection works with it: envelope facts plus the coded body.

Reading is pure: :func:`read` takes an envelope and gives a :class:`Fact` or raises
:class:`UnreadableEvent` / a pydantic ``ValidationError`` for a payload coordination cannot
use, or ``UnknownEventType`` for a type it does not read. The runner turns each into a dead
letter, naming the field but never quoting it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from services.coordination.domain import CarePlanEvent
from services.coordination.projection.inputs import READERS, Input
from shared.envelope import Envelope, EventRegistry, UnknownEventType, parse_type
from shared.errors import RuleViolation
from shared.upcasts import upcast

OWN_SERVICE = "coordination"


class UnreadableEvent(RuleViolation):
    """An envelope whose metadata the timeline cannot place (no patient, a naive time …)."""


Body = Input | CarePlanEvent


@dataclass(frozen=True, slots=True)
class Fact:
    event_id: uuid.UUID
    patient_id: str
    clinic_id: str
    service: str
    event_name: str
    stream_id: str
    sequence: int
    occurred_at: datetime
    recorded_at: datetime
    body: Body


def read(env: Envelope, own: EventRegistry) -> Fact:
    """The fact of ``env``; ``own`` decodes (and upcasts) coordination's own events."""
    if not env.subject:
        raise UnreadableEvent("the event names no patient (ce_subject)")
    if not env.clinic_id:
        raise UnreadableEvent("the event names no clinic (ce_clinicid)")
    for name, moment in (("ce_time", env.time), ("ce_recordedat", env.recorded_at)):
        if moment is not None and moment.utcoffset() is None:
            raise UnreadableEvent(f"{name} has no time zone")
    service, event_name = env.service, env.event_name
    body: Body
    if service == OWN_SERVICE and own.knows(env.type):
        body = cast(CarePlanEvent, own.decode(env))  # only care-plan events are registered
    else:
        reader = READERS.get((service, event_name))
        if reader is None:
            # A type no service of the platform emits (the topics carry only their owners'
            # events), or a new one coordination does not read yet: dead-lettered, to be
            # replayed from the dead-letter topic (`carecoord dlq replay`) once it does, rather
            # than kept as an entry nothing in the summary or the rules can use.
            raise UnknownEventType(f"coordination does not read {service} events named {event_name[:80]}")
        # An older payload version in the producer's newest shape first (shared.upcasts).
        body = reader.model_validate(upcast(service, event_name, parse_type(env.type)[2], env.payload))
    return Fact(
        event_id=env.id, patient_id=env.subject, clinic_id=env.clinic_id, service=service,
        event_name=event_name, stream_id=env.stream_id, sequence=env.stream_version,
        occurred_at=env.time,
        # A producer that does not stamp recorded_at is taken to have recorded on occurrence.
        recorded_at=env.recorded_at or env.time, body=body)
