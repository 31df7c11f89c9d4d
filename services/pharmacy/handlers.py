"""Command handlers and course views of the pharmacy service: one stream per course."""

from __future__ import annotations

from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING, Any

from services.pharmacy.domain import (
    INITIAL_STATE,
    PHARMACY_EVENT_TYPES,
    Command,
    CourseState,
    MedicationStarted,
    decide,
    evolve,
    to_mg,
)
from services.pharmacy.domain.dosing import daily_dose
from services.pharmacy.formulary import Formulary
from shared.envelope import Envelope, EventRegistry, Metadata
from shared.eventstore import EventStore
from shared.handler import CommandHandler, Decider, Hook, Outcome

if TYPE_CHECKING:
    from services.pharmacy.deps import PharmacyContext

SERVICE = "pharmacy"


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(SERVICE, *PHARMACY_EVENT_TYPES)
    return reg


def decider(formulary: Formulary) -> Decider[CourseState, Command]:
    return Decider(INITIAL_STATE, partial(decide, formulary=formulary), evolve)


def command_handler(store: EventStore, formulary: Formulary) -> CommandHandler[CourseState, Command]:
    return CommandHandler(store, decider(formulary), service=SERVICE, registry=registry())


def stream_of(medication_id: str) -> str:
    return f"medication-{medication_id}"


async def handle(ctx: PharmacyContext, cmd: Command, clinic: str, meta: Metadata, within: Hook | None,
                 expected_version: int | None = None) -> Outcome[CourseState]:
    return await ctx.courses.execute(stream_of(cmd.medication_id), cmd, subject=cmd.patient_id,
                                     clinic_id=clinic, metadata=meta, expected_version=expected_version,
                                     within=within)


def course_view(events: list[Envelope], reg: EventRegistry, with_history: bool = False) -> dict[str, Any]:
    """A course as clients read it: the folded state plus, on request, its history."""
    state = INITIAL_STATE
    started: MedicationStarted | None = None
    for env in events:
        event = reg.decode(env)
        state = evolve(state, event)
        if isinstance(event, MedicationStarted):
            started = event
    assert started is not None and state.schedule is not None and state.dose is not None
    assert state.unit is not None and state.started_at is not None
    amount = to_mg(daily_dose(state.dose, state.schedule), state.unit)
    view: dict[str, Any] = {
        "medication_id": started.medication_id, "patient_id": started.patient_id,
        "drug": started.drug.model_dump(), "dose": state.dose, "unit": state.unit,
        "daily_dose_mg": amount, "schedule": state.schedule.model_dump(), "route": started.route,
        "indication": started.indication, "status": state.status, "started_at": state.started_at,
        "discontinued_at": state.discontinued_at, "formulary": started.formulary.model_dump(mode="json"),
        "version": events[-1].stream_version,
    }
    if with_history:
        view["history"] = [{"version": e.stream_version, "event_type": e.event_name, "occurred_at": e.time,
                            "recorded_at": e.recorded_at, "actor": e.actor, "data": dict(e.payload)}
                           for e in events]
    return view


async def courses_of(ctx: PharmacyContext, patient_id: str) -> list[dict[str, Any]]:
    by_stream: dict[str, list[Envelope]] = defaultdict(list)
    for env in await ctx.store.read_subject(patient_id):
        by_stream[env.stream_id].append(env)
    views = [course_view(events, ctx.courses.registry) for events in by_stream.values()]
    return sorted(views, key=lambda v: (v["status"] != "active", v["started_at"]))


async def course(ctx: PharmacyContext, patient_id: str, medication_id: str) -> dict[str, Any] | None:
    events = await ctx.store.read_stream(stream_of(medication_id))
    if not events or events[0].subject != patient_id:
        return None
    return course_view(events, ctx.courses.registry, with_history=True)


def command_body(outcome: Outcome[CourseState]) -> dict[str, Any]:
    """The answer to a command: the course after it, with the version to send back."""
    state, result = outcome.state, outcome.result
    last = result.events[-1] if result.events else None
    return {"medication_id": state.medication_id, "patient_id": state.patient_id,
            "version": outcome.version, "event_id": str(last.id) if last else None,
            "event_type": last.event_name if last else None, "status": state.status,
            "dose": state.dose, "unit": state.unit}
