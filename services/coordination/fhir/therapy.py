"""EpisodeOfCare per therapy episode, Appointment per session, Encounter per completed session,
and a CarePlan per care step (each change of step a new plan that replaces the one before); pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.coordination.projection import inputs as i
from services.coordination.projection.describe import modality as modality_text

from .codes import (
    ACT_CODE,
    CANCELLATION_REASON,
    CARE_STEP,
    MODALITY,
    UCUM,
    coding,
    concept,
    instant,
    organization_id,
    ref,
    resource_id,
)
from .common import Resource, patient_ref, period, shell
from .record import Episode, Session, Source

APPOINTMENT_STATUS = {"SessionCompleted": "fulfilled", "SessionMissed": "noshow", "SessionCancelled": "cancelled"}
CANCELLED_BY = {"patient": ("pat", "Patient"), "clinic": ("prov", "Provider")}


def episode_id(episode: Episode) -> str:
    return resource_id("EpisodeOfCare", episode.key)


def appointment_id(episode: Episode, session: Session) -> str:
    return resource_id("Appointment", f"{episode.key}/{session.session_id}")


def encounter_id(episode: Episode, session: Session) -> str:
    return resource_id("Encounter", f"{episode.key}/{session.session_id}")


def _started(episode: Episode) -> i.TherapyEpisodeStarted:
    body = episode.start.fact.body
    assert isinstance(body, i.TherapyEpisodeStarted)
    return body


def current_modality(episode: Episode) -> str:
    code = _started(episode).modality
    for change in episode.changes:
        if isinstance(change.fact.body, i.ModalityChanged):
            code = change.fact.body.to_modality
    return code


def episode_of_care(patient_id: str, clinic_id: str, episode: Episode) -> Resource:
    code = current_modality(episode)
    sources = [episode.start, *episode.changes, *([episode.end] if episode.end else [])]
    return shell("EpisodeOfCare", episode_id(episode), sources) | {
        "status": "finished" if episode.end else "active",
        "type": [concept(MODALITY, code, modality_text(code), text=f"psychotherapy: {modality_text(code)}")],
        "patient": patient_ref(patient_id),
        "managingOrganization": ref("Organization", organization_id(clinic_id)),
        "period": period(episode.start.fact.occurred_at, episode.end.fact.occurred_at if episode.end else None),
    }


def _completion(session: Session) -> i.SessionCompleted | None:
    outcome = session.outcome
    return outcome.fact.body if outcome and isinstance(outcome.fact.body, i.SessionCompleted) else None


def session_times(session: Session) -> tuple[datetime, datetime | None]:
    """When the session began and ended: a completion is recorded at its end with its length;
    otherwise the booked time (or the time of the miss or cancellation) and no end."""
    done = _completion(session)
    if done is not None and session.outcome is not None:
        end = session.outcome.fact.occurred_at
        return end - timedelta(minutes=done.duration_min), end
    scheduled = session.scheduled.fact.body if session.scheduled else None
    if isinstance(scheduled, i.SessionScheduled) and scheduled.scheduled_at is not None:
        return scheduled.scheduled_at, None
    first = session.sources[0]
    return first.fact.occurred_at, None


def appointment(patient_id: str, episode: Episode, session: Session) -> Resource:
    outcome = session.outcome
    status = APPOINTMENT_STATUS.get(outcome.fact.event_name, "booked") if outcome else "booked"
    start, end = session_times(session)
    out = shell("Appointment", appointment_id(episode, session), session.sources) | {
        "status": status,
        "start": instant(start),
        "participant": [{"actor": patient_ref(patient_id), "status": "accepted"}],
        "supportingInformation": [ref("EpisodeOfCare", episode_id(episode))],
    }
    if session.scheduled is not None:
        out["created"] = instant(session.scheduled.fact.occurred_at)
    done = _completion(session)
    if done is not None and end is not None:
        out |= {"end": instant(end), "minutesDuration": done.duration_min}
    if outcome is not None and isinstance(outcome.fact.body, i.SessionCancelled):
        code, display = CANCELLED_BY.get(outcome.fact.body.by, ("other", "Other"))
        out["cancelationReason"] = concept(CANCELLATION_REASON, code, display)
    return out


def encounter(patient_id: str, clinic_id: str, episode: Episode, session: Session) -> Resource | None:
    """The session as it took place: only a completed one has an Encounter."""
    done = _completion(session)
    if done is None or session.outcome is None:
        return None
    start, end = session_times(session)
    remote = _started(episode).setting == "remote"
    return shell("Encounter", encounter_id(episode, session), [session.outcome]) | {
        "status": "finished",
        "class": coding(ACT_CODE, "VR", "virtual") if remote else coding(ACT_CODE, "AMB", "ambulatory"),
        "subject": patient_ref(patient_id),
        "episodeOfCare": [ref("EpisodeOfCare", episode_id(episode))],
        "appointment": [ref("Appointment", appointment_id(episode, session))],
        "period": period(start, end),
        "length": {"value": done.duration_min, "unit": "min", "system": UCUM, "code": "min"},
        "serviceProvider": ref("Organization", organization_id(clinic_id)),
    }


def care_steps(episode: Episode) -> list[tuple[Source, int, str]]:
    """Each care step of the episode: the event that began it, the step and the modality then."""
    started = _started(episode)
    steps = [(episode.start, started.care_step, started.modality)]
    modality_now = started.modality
    for change in episode.changes:
        body = change.fact.body
        if isinstance(body, i.ModalityChanged):
            modality_now = body.to_modality
        elif isinstance(body, i.CareStepChanged):
            steps.append((change, body.to_step, modality_now))
    return steps


def care_plan_id(step_source: Source) -> str:
    return resource_id("CarePlan", step_source.event_id)


def care_plans(patient_id: str, episode: Episode) -> list[Resource]:
    steps = care_steps(episode)
    out = []
    for n, (began, step, code) in enumerate(steps):
        following = steps[n + 1][0] if n + 1 < len(steps) else episode.end
        sources = [began, *([following] if following else [])]
        plan: dict[str, Any] = shell("CarePlan", care_plan_id(began), sources) | {
            "status": "completed" if following else "active",
            "intent": "plan",
            "category": [concept(CARE_STEP, str(step), f"care step {step}")],
            "title": f"Stepped care, step {step}",
            "description": f"Care step {step}, psychotherapy: {modality_text(code)}",
            "subject": patient_ref(patient_id),
            "period": period(began.fact.occurred_at, following.fact.occurred_at if following else None),
            "created": instant(began.fact.occurred_at),
            "supportingInfo": [ref("EpisodeOfCare", episode_id(episode))],
        }
        if n > 0:
            plan["replaces"] = [ref("CarePlan", care_plan_id(steps[n - 1][0]))]
        out.append(plan)
    return out
