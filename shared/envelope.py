"""The event envelope (CloudEvents 1.0 attributes plus carecoord's extensions), the type
registry and payload upcasters.

Domain code deals in payload models (:class:`shared.events.DomainEvent`); everything
around them (ids, positions, clinic, actor, trace) lives here so it is uniform across
services and topics. The payload is kept as JSON-ready data in the envelope: the stored,
hashed and published form is the same one, and decoding to a model happens on read,
through the upcasters, so an old event is never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.events import DomainEvent

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


class UnknownEventType(LookupError):
    """No payload model is registered for an envelope's type."""


def event_type(service: str, event_name: str, version: int) -> str:
    return f"carecoord.{service}.{event_name}.v{version}"


def parse_type(type_: str) -> tuple[str, str, int]:
    """``carecoord.pharmacy.DoseAdjusted.v2`` → ("pharmacy", "DoseAdjusted", 2)."""
    parts = type_.split(".")
    if len(parts) != 4 or parts[0] != "carecoord" or not parts[3].startswith("v"):
        raise UnknownEventType(f"not a carecoord event type: {type_[:120]}")
    try:
        return parts[1], parts[2], int(parts[3][1:])
    except ValueError as exc:
        raise UnknownEventType(f"not a carecoord event type: {type_[:120]}") from exc


@dataclass(frozen=True, slots=True)
class Metadata:
    """Who and what caused an event: set by the command's shell, never by domain code."""

    actor: str | None = None  # staff id, never a name
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    id: uuid.UUID
    source: str
    type: str
    subject: str  # patient id
    time: datetime  # occurred_at (clinical time)
    clinic_id: str
    stream_id: str
    payload: Mapping[str, Any]
    stream_version: int = 0  # assigned by the event store on append
    recorded_at: datetime | None = None  # assigned by the event store on append
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None
    traceparent: str | None = None
    global_position: int | None = None  # the store's order; not part of the content hash
    hash: bytes | None = field(default=None, compare=False)

    @property
    def service(self) -> str:
        return parse_type(self.type)[0]

    @property
    def event_name(self) -> str:
        return parse_type(self.type)[1]

    @property
    def schema_version(self) -> int:
        return parse_type(self.type)[2]

    def stored(self, version: int, recorded_at: datetime, hash_: bytes, position: int) -> Envelope:
        """This event as the store keeps it; built field by field, as it runs per event."""
        return Envelope(self.id, self.source, self.type, self.subject, self.time, self.clinic_id,
                        self.stream_id, self.payload, version, recorded_at, self.correlation_id,
                        self.causation_id, self.actor, self.traceparent, position, hash_)


def new_envelope(
    service: str,
    stream_id: str,
    event: DomainEvent,
    *,
    subject: str,
    clinic_id: str,
    metadata: Metadata | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope:
    meta = metadata or Metadata()
    eid = event_id or uuid.uuid4()
    return Envelope(
        id=eid,
        source=f"/carecoord/{service}",
        type=event_type(service, event.event_name, event.version),
        subject=subject,
        time=event.occurred_at,
        clinic_id=clinic_id,
        stream_id=stream_id,
        payload=event.model_dump(mode="json"),
        correlation_id=meta.correlation_id or str(eid),
        causation_id=meta.causation_id,
        actor=meta.actor,
        traceparent=meta.traceparent,
    )


# --------------------------------------------------------------------------- hashing


def _utc(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical_json(value: Any) -> Any:
    """JSON numbers by value, not by spelling: a database stores ``1e+16`` as the integer
    10000000000000000 and ``-0.0`` as ``0.0`` (PostgreSQL's jsonb does), and an event read
    back must hash as it did when appended. Exact type checks: this runs on every event."""
    kind = type(value)
    if kind is float:
        if value == 0:
            return 0.0
        if math.isfinite(value) and "e+" in repr(value):
            return int(Decimal(repr(value)))
        return value
    if kind is dict:
        return {k: _canonical_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_canonical_json(v) for v in value]
    if kind in (str, int, bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _canonical_json(v) for k, v in value.items()}
    return value


def canonical_payload(payload: Mapping[str, Any]) -> str:
    """The payload's canonical JSON; also the form the event store keeps.

    Only numbers spelt with an exponent or a negative zero can come back from the database
    spelt differently, so the (slower) normalisation runs only when the text shows one."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if "e+" in text or "-0.0" in text:
        text = json.dumps(_canonical_json(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text


def canonical_meta(env: Envelope, *, stream_version: int | None = None, recorded_at: datetime | None = None) -> str:
    """The hashed metadata as a JSON array in a fixed order (see :func:`canonical_content`)."""
    return json.dumps([
        str(env.id),
        env.source,
        env.type,
        env.subject,
        _utc(env.time),
        env.clinic_id,
        env.stream_id,
        env.stream_version if stream_version is None else stream_version,
        _utc(env.recorded_at if recorded_at is None else recorded_at),
        env.correlation_id,
        env.causation_id,
        env.actor,
    ], separators=(",", ":"), ensure_ascii=False)


def canonical_meta_parts(env: Envelope) -> tuple[str, str]:
    """The hashed metadata split around its stream version and recorded_at, which the store
    fills in under its append lock: ``head + version + ',"' + recorded_at + '"' + tail`` is
    :func:`canonical_meta` of the stored event."""
    head = json.dumps([str(env.id), env.source, env.type, env.subject, _utc(env.time), env.clinic_id,
                       env.stream_id], separators=(",", ":"), ensure_ascii=False)
    tail = json.dumps([env.correlation_id, env.causation_id, env.actor], separators=(",", ":"),
                      ensure_ascii=False)
    return head[:-1] + ",", "," + tail[1:]


def canonical_content(env: Envelope, payload_json: str | None = None, *,
                      stream_version: int | None = None, recorded_at: datetime | None = None) -> bytes:
    """The bytes a content hash covers: everything recorded about the event except its
    global position and trace context (which are delivery details, not history): a JSON
    array of the metadata in a fixed order, a newline, and the payload's canonical JSON.

    ``payload_json``, ``stream_version`` and ``recorded_at`` let the event store hash an
    event it is about to position without building it twice."""
    head = canonical_meta(env, stream_version=stream_version, recorded_at=recorded_at)
    return f"{head}\n{payload_json if payload_json is not None else canonical_payload(env.payload)}".encode()


def chain_hash(prev_hash: bytes | None, env: Envelope) -> bytes:
    return link_hash(prev_hash, canonical_content(env))


def link_hash(prev_hash: bytes | None, content: bytes) -> bytes:
    """sha256(previous hash ‖ canonical content): each event seals the one before it."""
    h = hashlib.sha256(prev_hash or b"\x00" * 32)
    h.update(content)
    return h.digest()


# --------------------------------------------------------------------------- registry

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventRegistry:
    """Maps CloudEvents types to payload models; upcasts old payload versions on read.

    An upcaster registered for (service, name, v) turns a v payload into a v+1 payload;
    chains of them bring any stored version up to the registered model's version.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, str, int], Upcaster] = {}

    def register(self, service: str, *models: type[DomainEvent]) -> None:
        for model in models:
            self._models[(service, model.event_name)] = model

    def upcaster(self, service: str, event_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def deco(fn: Upcaster) -> Upcaster:
            self._upcasters[(service, event_name, from_version)] = fn
            return fn

        return deco

    def model_for(self, type_: str) -> type[DomainEvent]:
        service, name, _ = parse_type(type_)
        model = self._models.get((service, name))
        if model is None:
            raise UnknownEventType(f"no payload model registered for {type_[:120]}")
        return model

    def knows(self, type_: str) -> bool:
        try:
            self.model_for(type_)
        except UnknownEventType:
            return False
        return True

    def decode(self, env: Envelope) -> DomainEvent:
        """The payload as the current model version (upcast when stored older)."""
        service, name, version = parse_type(env.type)
        model = self.model_for(env.type)
        data = dict(env.payload)
        while version < model.version:
            step = self._upcasters.get((service, name, version))
            if step is None:
                raise UnknownEventType(f"no upcaster from {env.type[:120]} to v{model.version}")
            data = step(data)
            version += 1
        if version > model.version:
            raise UnknownEventType(f"{env.type[:120]} is newer than the known v{model.version}")
        return model.model_validate(data)
