"""A patient's record as FHIR resources and as a Bundle (type collection); pure.

``patient_resources`` is the one mapping: the Bundle endpoint and the bulk export both call it,
so a resource reads the same either way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .codes import CLINIC, instant, organization_id, ref, resource_id
from .common import Resource, shell
from .flags import detected_issue, evidence, flag
from .medication import adverse_event, medication_statement
from .observation import observation
from .provenance import provenance
from .record import PatientRecord, Source
from .therapy import appointment, care_plans, care_steps, encounter, episode_of_care

RESOURCE_TYPES = ("Patient", "Organization", "MedicationStatement", "AdverseEvent", "Observation", "EpisodeOfCare",
                  "Appointment", "Encounter", "CarePlan", "Flag", "DetectedIssue", "Provenance")
"""Every type the export writes, in the Bundle's order."""


def organization(clinic_id: str) -> Resource:
    """The clinic: only its carecoord id is known here."""
    return {"resourceType": "Organization", "id": organization_id(clinic_id),
            "identifier": [{"system": CLINIC, "value": clinic_id}], "active": True, "name": clinic_id}


def patient(record: PatientRecord) -> Resource:
    """Pseudonymous: the id and the clinic, no name or birth date (identity stays in assessment)."""
    sources = [record.enrolment] if record.enrolment else []
    return shell("Patient", record.patient_id, sources) | {
        "active": True, "managingOrganization": ref("Organization", organization_id(record.clinic_id))}


def patient_resources(record: PatientRecord) -> list[Resource]:
    """Every resource of the patient (the clinic's Organization excluded: a bulk export writes it
    once per clinic), each followed in the list's tail by its Provenance."""
    pid, clinic = record.patient_id, record.clinic_id
    made: list[tuple[Resource, list[Source], dict[str, Any]]] = []
    made.append((patient(record), [record.enrolment] if record.enrolment else [], {}))
    courses = sorted(record.courses.values(), key=lambda c: (c.start.fact.occurred_at, c.start.event_id))
    for course in courses:
        sources = [course.start, *course.adjustments, *([course.stop] if course.stop else [])]
        made.append((medication_statement(pid, course), sources, {}))
    for course in courses:
        for effect in course.effects:
            made.append((adverse_event(pid, course, effect), [effect], {}))
    for assessment in record.assessments:
        made.append((observation(pid, assessment), [assessment], {}))
    episodes = sorted(record.episodes.values(), key=lambda e: (e.start.fact.occurred_at, e.start.event_id))
    for episode in episodes:
        made.append((episode_of_care(pid, clinic, episode), [episode.start, *episode.changes,
                                                             *([episode.end] if episode.end else [])], {}))
    for episode in episodes:
        for session in sorted(episode.sessions.values(), key=lambda s: (s.sources[0].fact.occurred_at, s.session_id)):
            made.append((appointment(pid, episode, session), session.sources, {}))
    for episode in episodes:
        for session in sorted(episode.sessions.values(), key=lambda s: (s.sources[0].fact.occurred_at, s.session_id)):
            enc = encounter(pid, clinic, episode, session)
            if enc is not None and session.outcome is not None:
                made.append((enc, [session.outcome], {}))
    for episode in episodes:
        steps = care_steps(episode)
        for n, plan in enumerate(care_plans(pid, episode)):
            following = steps[n + 1][0] if n + 1 < len(steps) else episode.end
            made.append((plan, [steps[n][0], *([following] if following else [])], {}))
    for f in record.flags:
        ack = f.acknowledgement
        extra = {"rule": f"{f.rule_id} v{f.rule_version}", "verified_by": ack.acknowledged_by if ack else None,
                 "recorded": f.raised_at}
        made.append((flag(record, f), evidence(record, f), extra))
    for f in record.flags:
        issue = detected_issue(record, f)
        if issue is not None:
            made.append((issue, evidence(record, f), {"rule": f"{f.rule_id} v{f.rule_version}",
                                                      "recorded": f.raised_at}))
    resources = [r for r, _, _ in made]
    return resources + [provenance(r, sources, **extra) for r, sources, extra in made]


def bundle(record: PatientRecord, base_url: str) -> Resource:
    """The Bundle: entries' fullUrl ``{base_url}/{type}/{id}``, so every relative reference
    (``Patient/…``) resolves to an entry of the same Bundle."""
    resources = [*patient_resources(record)]
    resources.insert(1, organization(record.clinic_id))
    updated = [datetime.fromisoformat(r["meta"]["lastUpdated"]) for r in resources if "meta" in r]
    out: Resource = {"resourceType": "Bundle", "id": resource_id("Bundle", record.patient_id), "type": "collection"}
    if updated:
        out["timestamp"] = instant(max(updated))  # of the record, not of the call: the same each time
    out["entry"] = [{"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return out
