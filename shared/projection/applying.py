"""Applying a batch's events to a read model: all at once, or one by one to find the one
that is refused, telling a refused event apart from a failing environment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import asyncpg
from opentelemetry import trace
from pydantic import ValidationError

from shared.dberrors import is_environmental, signature
from shared.envelope import Envelope, UnknownEventType
from shared.errors import DomainError
from shared.kafka.headers import EnvelopeDecodeError
from shared.projection.items import Item
from shared.telemetry import context_from_traceparent
from shared.telemetry.semconv import consumer_attributes, consumer_span_name

tracer = trace.get_tracer("carecoord.projection")

MAX_LINKS = 128


class Projection(Protocol):
    """A read model. ``apply`` runs inside the runner's transaction; it must do all its
    writes through ``conn`` so they commit together with the tracking rows."""

    name: str

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Envelope]) -> None: ...

    # Optional: ``async def begin(self, conn)``, run first in each batch's transaction (a
    # projection that appends events takes its event store's append lock there).


class SameFailureEverywhere(Exception):
    """Every event of a batch failed, and in the same way: that is the environment or the
    read model's code, not the messages, so the batch is retried instead of dead-lettered."""

    def __init__(self, example: BaseException) -> None:
        super().__init__(f"every event of the batch failed with {type(example).__name__}")
        self.example = example


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, SameFailureEverywhere) or is_environmental(exc)


Apply = Callable[[asyncpg.Connection, list[Item]], Awaitable[None]]


async def apply_in_order(conn: asyncpg.Connection, items: list[Item], apply: Apply) -> list[Item]:
    """Apply ``items`` in one savepoint; if one is refused, one by one to set it aside (it
    comes back with its error). After a refused event its stream's later events are held
    back (``held``), not applied. Environmental failures propagate: nothing is refused."""
    if not items:
        return []
    try:
        async with conn.transaction():  # savepoint: the fast path, whole batch at once
            await apply(conn, items)
        return []
    except Exception as exc:
        if retryable(exc):
            raise
    broken: set[tuple[str, str]] = set()
    attempted: list[Item] = []
    failed: list[Item] = []
    for item in items:
        if item.stream is not None and item.stream in broken:
            item.held = True
            continue
        attempted.append(item)
        try:
            async with conn.transaction():
                await apply(conn, [item])
        except Exception as exc:
            if retryable(exc):
                raise
            item.error = exc
            failed.append(item)
            if item.stream is not None:
                broken.add(item.stream)
    errors = [i.error for i in failed if i.error is not None]
    if (len(attempted) >= 2 and len(failed) == len(attempted) and len({signature(e) for e in errors}) == 1
            and not any(names_the_message(e) for e in errors)):
        raise SameFailureEverywhere(errors[0])
    return failed


def names_the_message(exc: BaseException) -> bool:
    """A refusal that is about the event itself (its payload fails its model, a rule refuses
    it): two such events in one batch are two poison messages, not an environment failing
    everything alike, however alike their errors look."""
    return isinstance(exc, (ValidationError, DomainError, EnvelopeDecodeError, UnknownEventType))


async def apply_traced(projection: Projection, conn: asyncpg.Connection, items: list[Item],
                       trace_links: bool, group: str | None = None) -> None:
    envelopes = [i.envelope for i in items if i.envelope is not None]
    if not envelopes:
        return
    # One event continues its request's trace; a batch links to each event's trace (the
    # OpenTelemetry convention for batch consumers) when spans are exported at all.
    parent = envelopes[0].traceparent if len(envelopes) == 1 else None
    links = []
    if trace_links and parent is None:
        for env in envelopes[:MAX_LINKS]:
            context = trace.get_current_span(context_from_traceparent(env.traceparent)).get_span_context()
            if context.is_valid:
                links.append(trace.Link(context))
    topics = {i.record.topic for i in items if i.envelope is not None}
    attributes = {**consumer_attributes(topics, group, len(envelopes)), "carecoord.projection": projection.name}
    with tracer.start_as_current_span(
        consumer_span_name(topics), context=context_from_traceparent(parent), links=links,
        kind=trace.SpanKind.CONSUMER, attributes=attributes,
    ):
        await projection.apply(conn, envelopes)
