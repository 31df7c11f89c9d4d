"""What a client reads of a course: the course now, and a history whose payloads are the
current model version even when the stored event is older (upcast on read, never rewritten)."""

from __future__ import annotations

from typing import Any, ClassVar

from services.pharmacy.domain import (
    AdverseEffectReported,
    DoseAdjusted,
    MedicationDiscontinued,
    MedicationStarted,
)
from services.pharmacy.handlers import SERVICE, command_handler, course_view, decider, stream_of
from shared.envelope import Envelope, EventRegistry, Metadata
from shared.eventstore import InMemoryEventStore
from shared.handler import CommandHandler

from .builders import LATER, MEDICATION, PATIENT, adjust_command, formulary, report_command, start_command


class AdverseEffectReportedV3(AdverseEffectReported):
    """A later version of the event that says whether the effect is serious."""

    version: ClassVar[int] = 3

    serious: bool


def v3_registry() -> EventRegistry:
    reg = EventRegistry()
    reg.register(SERVICE, MedicationStarted, DoseAdjusted, MedicationDiscontinued, AdverseEffectReportedV3)

    @reg.upcaster(SERVICE, "AdverseEffectReported", 2)
    def _serious_when_severe(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "serious": data["severity"] == "severe"}

    return reg


async def stored_course() -> tuple[InMemoryEventStore, list[Envelope]]:
    """A course started, adjusted and with a severe effect, stored by today's (v2) service."""
    store = InMemoryEventStore()
    courses = command_handler(store, formulary())
    for command in (start_command(), adjust_command(), report_command(severity="severe", observed_at=LATER)):
        await courses.execute(stream_of(MEDICATION), command, subject=PATIENT, clinic_id="clinic-north",
                              metadata=Metadata(actor="staff-12"))
    return store, await store.read_stream(stream_of(MEDICATION))


async def test_the_history_of_current_events_is_their_stored_payload() -> None:
    store, events = await stored_course()

    view = course_view(events, command_handler(store, formulary()), with_history=True)

    assert view is not None
    assert [entry["data"] for entry in view["history"]] == [dict(e.payload) for e in events]
    assert [entry["event_type"] for entry in view["history"]] == [
        "MedicationStarted", "DoseAdjusted", "AdverseEffectReported"]


async def test_the_history_shows_an_old_event_in_the_current_version() -> None:
    store, events = await stored_course()
    assert events[2].type == "carecoord.pharmacy.AdverseEffectReported.v2"
    upgraded = CommandHandler(store, decider(formulary()), service=SERVICE, registry=v3_registry())

    view = course_view(events, upgraded, with_history=True)

    assert view is not None
    assert view["history"][2]["data"] == {**events[2].payload, "serious": True}
    assert (view["status"], view["dose"], view["version"]) == ("active", 100.0, 3)
