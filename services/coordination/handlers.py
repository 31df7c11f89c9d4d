"""Command handling of the team's decisions: one care-plan stream per patient."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

from services.coordination.domain import (
    COORDINATION_EVENT_TYPES,
    INITIAL_STATE,
    CarePlanState,
    Command,
    decide,
    evolve,
)
from shared.envelope import EventRegistry, Metadata
from shared.eventstore import EventStore
from shared.eventstore.base import ConcurrencyError
from shared.handler import CommandHandler, Decider, Hook, Outcome
from shared.patient_api import Execute

if TYPE_CHECKING:
    from services.coordination.deps import CoordinationContext

SERVICE = "coordination"
ATTEMPTS = 8  # enough for a whole team deciding about one patient in the same moment

DECIDER: Decider[CarePlanState, Command] = Decider(INITIAL_STATE, decide, evolve)


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(SERVICE, *COORDINATION_EVENT_TYPES)
    return reg


def command_handler(store: EventStore) -> CommandHandler[CarePlanState, Command]:
    return CommandHandler(store, DECIDER, service=SERVICE, registry=registry())


def stream_of(patient_id: str) -> str:
    return f"care-plan-{patient_id}"


def executor(ctx: CoordinationContext, command: Command) -> Execute:
    """The command bound to the patient's care-plan stream.

    A concurrent decision about the same patient is decided again on the new state instead
    of being answered 409: team decisions do not depend on one another (only on their ids
    being new), so the client would have nothing to reconsider."""

    async def execute(clinic: str, metadata: Metadata, within: Hook | None) -> Outcome[CarePlanState]:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await ctx.care_plans.execute(stream_of(command.patient_id), command,
                                                    subject=command.patient_id, clinic_id=clinic,
                                                    metadata=metadata, within=within)
            except ConcurrencyError:
                if attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(random.uniform(0, 0.005 * attempt))  # de-synchronise the losers
        raise AssertionError("unreachable")

    return execute


def _recorded(outcome: Outcome[Any]) -> dict[str, Any]:
    event = outcome.result.events[0]
    return {"patient_id": event.subject, "event_id": str(event.id), "version": outcome.version,
            **{k: v for k, v in event.payload.items() if k != "patient_id"}}


def escalation_body(outcome: Outcome[Any]) -> dict[str, Any]:
    data = _recorded(outcome)
    return {k: data[k] for k in ("escalation_id", "patient_id", "target", "reason", "due_by", "version",
                                 "event_id")} | {"decided_at": data["occurred_at"]}


def review_body(outcome: Outcome[Any]) -> dict[str, Any]:
    data = _recorded(outcome)
    return {k: data[k] for k in ("review_id", "patient_id", "reason", "goals", "version", "event_id")} | {
        "reviewed_at": data["occurred_at"]}


def conference_body(outcome: Outcome[Any]) -> dict[str, Any]:
    data = _recorded(outcome)
    return {k: data[k] for k in ("conference_id", "patient_id", "attendees", "decisions", "version",
                                 "event_id")} | {"held_at": data["occurred_at"]}
