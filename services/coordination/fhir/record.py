"""A patient's projected events grouped the way FHIR resources are: courses, assessments,
therapy episodes with their sessions and care steps, and the patient's flags; pure.

The events come from ``audit_events`` (every event as published, with its actor) and are read
through the projection's own models (:func:`services.coordination.projection.facts.read`),
which keep coded fields only: free text (a reason, an adverse effect's wording) and identity
never reach an exported resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.coordination.flagging.model import StoredFlag
from services.coordination.projection import inputs as i
from services.coordination.projection.facts import Fact


@dataclass(frozen=True, slots=True)
class Source:
    """One projected event: its fact (coded body, older versions upcast), who recorded it, and its
    payload as published (kept for the record; the resources are made from the fact alone)."""

    fact: Fact
    actor: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return str(self.fact.event_id)


@dataclass
class Course:
    start: Source
    adjustments: list[Source] = field(default_factory=list)
    stop: Source | None = None
    effects: list[Source] = field(default_factory=list)

    @property
    def medication_id(self) -> str:
        assert isinstance(self.start.fact.body, i.MedicationStarted)
        return self.start.fact.body.medication_id


@dataclass
class Session:
    session_id: str
    scheduled: Source | None = None
    outcome: Source | None = None  # completed, missed or cancelled

    @property
    def sources(self) -> list[Source]:
        return [s for s in (self.scheduled, self.outcome) if s is not None]


@dataclass
class Episode:
    start: Source
    changes: list[Source] = field(default_factory=list)  # modality and care-step changes, in order
    sessions: dict[str, Session] = field(default_factory=dict)
    end: Source | None = None

    @property
    def key(self) -> str:
        return self.start.fact.stream_id


@dataclass
class PatientRecord:
    patient_id: str
    clinic_id: str
    enrolment: Source | None = None
    assessments: list[Source] = field(default_factory=list)
    courses: dict[str, Course] = field(default_factory=dict)
    episodes: dict[str, Episode] = field(default_factory=dict)
    flags: list[StoredFlag] = field(default_factory=list)
    events: dict[str, Source] = field(default_factory=dict)  # by event id: a flag's evidence


def _stream_order(s: Source) -> tuple[str, str, int]:
    return (s.fact.service, s.fact.stream_id, s.fact.sequence)


def _episode_id(body: i.OnEpisode, fact: Fact) -> str:
    return body.episode_id or fact.stream_id


def record_of(patient_id: str, clinic_id: str, sources: Iterable[Source], flags: Sequence[StoredFlag] = ()
              ) -> PatientRecord:
    """The patient's record; each stream's events are taken in stream order, so the result does
    not depend on the order the events were recorded or read in. An event whose course or episode
    never started here (its start did not reach coordination) is left out: nothing could refer
    to it."""
    rec = PatientRecord(patient_id, clinic_id, flags=sorted(flags, key=lambda f: (f.raised_at, f.flag_id)))
    episodes_by_id: dict[str, Episode] = {}
    for s in sorted(sources, key=_stream_order):
        rec.events[s.event_id] = s
        body = s.fact.body
        match body:
            case i.PatientEnrolled():
                rec.enrolment = rec.enrolment or s
            case i.AssessmentRecorded():
                rec.assessments.append(s)
            case i.MedicationStarted():
                rec.courses.setdefault(body.medication_id, Course(s))
            case i.DoseAdjusted() | i.MedicationDiscontinued() | i.AdverseEffectReported():
                course = rec.courses.get(body.medication_id)
                if course is None:
                    continue
                if isinstance(body, i.DoseAdjusted):
                    course.adjustments.append(s)
                elif isinstance(body, i.MedicationDiscontinued):
                    course.stop = course.stop or s
                else:
                    course.effects.append(s)
            case i.TherapyEpisodeStarted():
                episode = Episode(s)
                episodes_by_id.setdefault(_episode_id(body, s.fact), episode)
                rec.episodes.setdefault(episode.key, episode)
            case i.OnEpisode():
                _on_episode(episodes_by_id.get(_episode_id(body, s.fact)), s, body)
            case _:
                pass  # life changes, preferences, the team's decisions: not exported
    rec.assessments.sort(key=lambda s: (s.fact.occurred_at, s.fact.recorded_at, s.event_id))
    return rec


def _on_episode(episode: Episode | None, s: Source, body: i.OnEpisode) -> None:
    if episode is None:
        return
    match body:
        case i.SessionScheduled():
            episode.sessions.setdefault(body.session_id, Session(body.session_id)).scheduled = s
        case i.SessionCompleted() | i.SessionMissed() | i.SessionCancelled():
            session = episode.sessions.setdefault(body.session_id, Session(body.session_id))
            session.outcome = session.outcome or s
        case i.ModalityChanged() | i.CareStepChanged():
            episode.changes.append(s)
        case i.TherapyEpisodeEnded():
            episode.end = episode.end or s
        case _:
            pass
