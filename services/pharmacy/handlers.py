"""Command handlers and course views of the pharmacy service: one stream per course."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, assert_never

from services.pharmacy.domain import (
    INITIAL_STATE,
    PHARMACY_EVENT_TYPES,
    Active,
    Command,
    CourseState,
    Discontinued,
    MedicationStarted,
    NotStarted,
    StartedCourse,
    daily_dose,
    decide,
    evolve,
    to_mg,
)
from services.pharmacy.formulary import Formulary
from shared.envelope import Envelope, EventRegistry, Metadata
from shared.errors import NotFound
from shared.eventstore import EventStore
from shared.handler import CommandHandler, Decider, Hook, Outcome
from shared.stream_views import history, patient_stream, patient_streams
from shared.upcasts import register as register_upcasts

if TYPE_CHECKING:
    from services.pharmacy.deps import PharmacyContext

SERVICE = "pharmacy"

CourseHandler = CommandHandler[CourseState, Command]


def registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(SERVICE, *PHARMACY_EVENT_TYPES)
    register_upcasts(reg, SERVICE)  # v1's free text read as the code "other" (shared.upcasts)
    return reg


def decider(formulary: Formulary) -> Decider[CourseState, Command]:
    return Decider(INITIAL_STATE, partial(decide, formulary=formulary), evolve)


def command_handler(store: EventStore, formulary: Formulary) -> CourseHandler:
    return CommandHandler(store, decider(formulary), service=SERVICE, registry=registry())


def stream_of(medication_id: str) -> str:
    return f"medication-{medication_id}"


async def handle(ctx: PharmacyContext, cmd: Command, clinic: str, meta: Metadata, within: Hook | None,
                 expected_version: int | None = None) -> Outcome[StartedCourse]:
    outcome = await ctx.courses.execute(stream_of(cmd.medication_id), cmd, subject=cmd.patient_id,
                                        clinic_id=clinic, metadata=meta, expected_version=expected_version,
                                        within=within)
    match outcome.state:
        case Active() | Discontinued() as course:
            return Outcome(outcome.result, course)
        case NotStarted():
            # Every command either starts the course or is refused on an unknown one.
            raise NotFound("medication course not found", field="medication_id")
        case _:
            assert_never(outcome.state)


def course_view(events: Sequence[Envelope], courses: CourseHandler,
                with_history: bool = False) -> dict[str, Any] | None:
    """A course as clients read it: the folded state plus, on request, its history with every
    payload as the current model version (older versions upcast). None if nothing started."""
    decoded = courses.decode(events)
    match courses.decider.fold(decoded), decoded[:1]:
        case (Active() | Discontinued()) as state, [MedicationStarted() as started]:
            view = _view(state, started, version=events[-1].stream_version)
        case _:
            return None
    if with_history:
        view["history"] = history(events, decoded)
    return view


def _view(state: StartedCourse, started: MedicationStarted, version: int) -> dict[str, Any]:
    """The course now: the current prescription; route, indication and formulary as started."""
    now = state.prescription
    return {
        "medication_id": now.medication_id, "patient_id": now.patient_id,
        "drug": now.drug.model_dump(), "dose": now.dose, "unit": now.unit,
        "daily_dose_mg": to_mg(daily_dose(now.dose, now.schedule), now.unit),
        "schedule": now.schedule.model_dump(), "route": started.route,
        "indication": started.indication.model_dump() if started.indication else None,
        "status": state.status, "started_at": now.started_at,
        "discontinued_at": state.discontinued_at if isinstance(state, Discontinued) else None,
        "formulary": started.formulary.model_dump(mode="json"), "version": version,
    }


async def courses_of(ctx: PharmacyContext, patient_id: str) -> list[dict[str, Any]]:
    views = [view for events in await patient_streams(ctx.store, patient_id)
             if (view := course_view(events, ctx.courses)) is not None]
    return sorted(views, key=lambda v: (v["status"] != "active", v["started_at"]))


async def course(ctx: PharmacyContext, patient_id: str, medication_id: str) -> dict[str, Any] | None:
    events = await patient_stream(ctx.store, stream_of(medication_id), patient_id)
    return None if events is None else course_view(events, ctx.courses, with_history=True)


def command_body(outcome: Outcome[StartedCourse]) -> dict[str, Any]:
    """The answer to a command: the course after it, with the version to send back."""
    course, result = outcome.state.prescription, outcome.result
    last = result.events[-1] if result.events else None
    return {"medication_id": course.medication_id, "patient_id": course.patient_id,
            "version": outcome.version, "event_id": str(last.id) if last else None,
            "event_type": last.event_name if last else None, "status": outcome.state.status,
            "dose": course.dose, "unit": course.unit}
