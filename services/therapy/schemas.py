"""Request and response bodies of the therapy API (the published JSON contract).

Codes are Literals, so ``/openapi.json`` lists every vocabulary as an enum; times must
carry a zone (422 otherwise).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field

from services.therapy.domain import CancelledBy, Modality, Reason, Setting, Technique
from services.therapy.domain.vocabulary import MAX_CODES_PER_SESSION, MAX_SESSION_MINUTES, MIN_SESSION_MINUTES
from shared.schemas import MAX_INT, Strict
from shared.stream_views import HistoryEntry

CareStep = Annotated[int, Field(ge=1, le=4, description="stepped care: 1 low intensity … 4 intensive or specialist")]
Codes = Annotated[list[Technique], Field(max_length=MAX_CODES_PER_SESSION)]


class StartRequest(Strict):
    modality: Modality
    care_step: CareStep
    therapist_id: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@|-]*$",
                                     description="the treating therapist's staff id (the identity provider's "
                                                 "subject, never a name: it travels on the events)")
    started_at: AwareDatetime
    setting: Setting | None = None


class OnEpisode(Strict):
    """A command on an existing episode: send the version you saw to refuse a concurrent change (409)."""

    expected_version: Annotated[int | None, Field(ge=1, le=MAX_INT)] = None


class ScheduleRequest(OnEpisode):
    scheduled_at: AwareDatetime


class CompletionRequest(OnEpisode):
    completed_at: AwareDatetime
    duration_min: int = Field(ge=MIN_SESSION_MINUTES, le=MAX_SESSION_MINUTES)
    techniques: Codes = []
    homework: Codes = []


class NoShowRequest(OnEpisode):
    missed_at: Annotated[AwareDatetime | None, Field(description="the scheduled time when not given")] = None


class CancellationRequest(OnEpisode):
    cancelled_at: AwareDatetime
    by: CancelledBy


class ModalityChangeRequest(OnEpisode):
    modality: Modality
    reason: Reason
    changed_at: AwareDatetime


class CareStepChangeRequest(OnEpisode):
    to_step: CareStep
    reason: Reason
    changed_at: AwareDatetime


class EndRequest(OnEpisode):
    reason: Reason
    ended_at: AwareDatetime


EpisodeStatus = Literal["active", "ended"]
SessionStatus = Literal["scheduled", "completed", "missed", "cancelled"]


class CommandResponse(BaseModel):
    episode_id: str
    version: int
    event_id: str | None
    event_type: str | None
    status: EpisodeStatus


class SessionCommandResponse(CommandResponse):
    session_id: str
    session_status: SessionStatus


class SessionCounts(BaseModel):
    scheduled: int
    completed: int
    missed: int
    cancelled: int


class Episode(BaseModel):
    episode_id: str
    patient_id: str
    modality: Modality
    care_step: int
    setting: Setting | None
    therapist_id: str | None
    status: EpisodeStatus
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    end_reason: Reason | None
    session_counts: SessionCounts
    version: int


class Session(BaseModel):
    session_id: str
    status: SessionStatus
    scheduled_at: AwareDatetime
    completed_at: AwareDatetime | None = None
    duration_min: int | None = None
    techniques: list[Technique] | None = None
    homework: list[Technique] | None = None
    missed_at: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None
    cancelled_by: CancelledBy | None = None


class EpisodeWithSessions(Episode):
    sessions: list[Session]
    history: list[HistoryEntry]
