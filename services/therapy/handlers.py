"""Command execution and episode views of the therapy service: one stream per episode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, assert_never

from services.therapy.domain import (
    DECIDER,
    THERAPY_EVENT_TYPES,
    Active,
    Cancelled,
    Command,
    Completed,
    Ended,
    EpisodeState,
    Missed,
    NotStarted,
    Scheduled,
    Session,
)
from shared.envelope import EventRegistry, Metadata
from shared.eventstore import EventStore
from shared.handler import CommandHandler, Hook, Outcome
from shared.idempotency import ToBody
from shared.patient_api import Execute
from shared.stream_views import history, patient_stream, patient_streams

if TYPE_CHECKING:
    from services.therapy.deps import TherapyContext

SERVICE = "therapy"


def command_handler(store: EventStore) -> CommandHandler[EpisodeState, Command]:
    registry = EventRegistry()
    registry.register(SERVICE, *THERAPY_EVENT_TYPES)
    return CommandHandler(store, DECIDER, service=SERVICE, registry=registry)


def stream_of(episode_id: str) -> str:
    return f"episode-{episode_id}"


def executor(ctx: TherapyContext, command: Command, expected_version: int | None = None) -> Execute:
    """The command bound to its episode's stream; the patient is the events' subject."""

    async def execute(clinic: str, metadata: Metadata, within: Hook | None) -> Outcome[EpisodeState]:
        return await ctx.episodes.execute(stream_of(command.episode_id), command, subject=command.patient_id,
                                          clinic_id=clinic, metadata=metadata,
                                          expected_version=expected_version, within=within)

    return execute


STATUS: dict[type[Session], str] = {Scheduled: "scheduled", Completed: "completed", Missed: "missed",
                                    Cancelled: "cancelled"}


def _session_view(session_id: str, session: Session) -> dict[str, Any]:
    view: dict[str, Any] = {"session_id": session_id, "status": STATUS[type(session)],
                            "scheduled_at": session.scheduled_at}
    match session:
        case Scheduled():
            pass
        case Completed():
            view.update(completed_at=session.completed_at, duration_min=session.duration_min,
                        techniques=list(session.techniques), homework=list(session.homework))
        case Missed():
            view.update(missed_at=session.missed_at)
        case Cancelled():
            view.update(cancelled_at=session.cancelled_at, cancelled_by=session.by)
        case _:
            assert_never(session)
    return view


def _counts(sessions: Mapping[str, Session]) -> dict[str, int]:
    counts = dict.fromkeys(STATUS.values(), 0)
    for session in sessions.values():
        counts[STATUS[type(session)]] += 1
    return counts


def episode_view(state: EpisodeState, version: int, *, detail: bool = False) -> dict[str, Any]:
    """An episode as clients read it; ``detail`` adds its sessions in calendar order."""
    match state:
        case Active(episode):
            view: dict[str, Any] = {"status": "active", "ended_at": None, "end_reason": None}
        case Ended(episode, ended_at, reason):
            view = {"status": "ended", "ended_at": ended_at, "end_reason": reason}
        case NotStarted():
            raise ValueError("an episode stream without its start")
        case _:
            assert_never(state)
    view.update(episode_id=episode.episode_id, patient_id=episode.patient_id, modality=episode.modality,
                care_step=episode.care_step, setting=episode.setting, therapist_id=episode.therapist_id,
                started_at=episode.started_at, session_counts=_counts(episode.sessions), version=version)
    if detail:
        ordered = sorted(episode.sessions.items(), key=lambda item: (item[1].scheduled_at, item[0]))
        view["sessions"] = [_session_view(sid, session) for sid, session in ordered]
    return view


async def episodes_of(ctx: TherapyContext, patient_id: str) -> list[dict[str, Any]]:
    """The patient's episodes, active first, each by its start."""
    views = [episode_view(DECIDER.fold(ctx.episodes.decode(events)), events[-1].stream_version)
             for events in await patient_streams(ctx.store, patient_id)]
    return sorted(views, key=lambda v: (v["status"] != "active", v["started_at"]))


async def episode(ctx: TherapyContext, patient_id: str, episode_id: str) -> dict[str, Any] | None:
    events = await patient_stream(ctx.store, stream_of(episode_id), patient_id)
    if events is None:
        return None
    decoded = ctx.episodes.decode(events)
    view = episode_view(DECIDER.fold(decoded), events[-1].stream_version, detail=True)
    view["history"] = history(events, decoded)
    return view


def command_body(session_id: str | None = None) -> ToBody:
    """The answer to a command: the episode's version to send back as expected_version,
    and the session it was about."""

    def body(outcome: Outcome[EpisodeState]) -> dict[str, Any]:
        last = outcome.result.events[-1] if outcome.result.events else None
        state = outcome.state
        assert isinstance(state, Active | Ended)
        answer: dict[str, Any] = {
            "episode_id": state.episode.episode_id, "version": outcome.version,
            "event_id": str(last.id) if last else None, "event_type": last.event_name if last else None,
            "status": "active" if isinstance(state, Active) else "ended"}
        if session_id is not None:
            answer["session_id"] = session_id
            answer["session_status"] = STATUS[type(state.episode.sessions[session_id])]
        return answer

    return body
