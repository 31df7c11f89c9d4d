"""One record on its way through the projection runner, and how it is decoded."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace

from aiokafka import ConsumerRecord

from shared.envelope import Envelope, EventRegistry, event_type
from shared.kafka import headers as ce

StreamKey = tuple[str, str]  # (source, stream_id): stream ids are unique per service only

# ``[namespace]carecoord.<service>.<kind>.v<n>`` (ServiceSettings.topic): the service owns it
_OWNED_TOPIC = re.compile(r"carecoord\.([a-z][a-z0-9_-]*)\.[a-z][a-z0-9_-]*\.v[0-9]+$")


class ForgedEvent(ValueError):
    """A record on a service's topic that does not say it comes from that service: only the
    owner's outbox writes there, so anything else was written by someone else (a client with
    stolen or over-broad credentials) and must not change a read model."""


def topic_owner(topic: str) -> str | None:
    """The service owning ``topic``, or None for a topic outside the naming scheme."""
    match = _OWNED_TOPIC.search(topic)
    return match.group(1) if match else None


def check_owner(topic: str, env: Envelope) -> None:
    """Refuse an envelope whose type or ``ce_source`` names another service than the topic's
    owner (the message names the topic's owner, never the payload)."""
    owner = topic_owner(topic)
    if owner is None:
        return
    if env.source != f"/carecoord/{owner}" or env.service != owner:
        raise ForgedEvent(f"an event on {owner}'s topic that does not come from {owner}")


@dataclass(frozen=True)
class ParkedRow:
    """Where a parked event sits in the parking table (and which tracking row is its)."""

    source: str
    stream_id: str
    sequence: int
    event_id: uuid.UUID


@dataclass(eq=False)
class Item:
    record: ConsumerRecord
    envelope: Envelope | None = None
    error: BaseException | None = None
    parked: ParkedRow | None = None  # read back from the parking table, not from Kafka
    held: bool = False  # its stream broke earlier in this batch: parked, not applied

    @property
    def stream(self) -> StreamKey | None:
        """The stream whose order this event is checked against; None when its sequence is
        unknown (0), which is applied as it comes."""
        env = self.envelope
        if env is None or env.stream_version <= 0:
            return None
        return env.source, env.stream_id

    @property
    def sequence(self) -> int:
        return self.envelope.stream_version if self.envelope is not None else 0


def decode(record: ConsumerRecord, registry: EventRegistry | None) -> Item:
    """The record as an envelope; with a registry, its payload is upcast to the current
    model version, so projections read one shape whatever version was stored."""
    try:
        env = ce.decode(record.value, record.headers)
        check_owner(record.topic, env)
        if registry is not None:
            model = registry.decode(env)  # validates type and payload, upcasting on the way
            env = replace(env, payload=model.model_dump(mode="json"),
                          type=event_type(env.service, env.event_name, model.version))
        return Item(record, env)
    except Exception as exc:
        # Whatever fails to decode one record (a malformed envelope, an unknown type, an
        # invalid payload, an upcaster tripping over an odd old payload) is that
        # record's problem: it is poison, not a reason to stop the partition.
        return Item(record, error=exc)
