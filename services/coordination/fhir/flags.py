"""Flag per risk flag and DetectedIssue per polypharmacy or dangerous-combination flag; pure."""

from __future__ import annotations

from datetime import datetime

from services.coordination.flagging.model import StoredFlag
from services.coordination.projection import inputs as i
from services.coordination.rules.registry import RULES_BY_ID

from .codes import (
    ACT_CODE,
    DETECTED_ISSUE_CODES,
    DETECTED_ISSUE_SEVERITY,
    FLAG_CATEGORIES,
    FLAG_CATEGORY,
    FLAG_PRIORITY,
    FLAG_PRIORITY_BY_SEVERITY,
    FLAG_PRIORITY_CODES,
    RISK_RULE,
    URI,
    concept,
    ref,
    resource_id,
    words,
)
from .common import Resource, patient_ref, period, shell
from .medication import statement_id
from .record import PatientRecord, Source


def flag_resource_id(flag: StoredFlag) -> str:
    return resource_id("Flag", flag.flag_id)


def detected_issue_id(flag: StoredFlag) -> str:
    return resource_id("DetectedIssue", flag.flag_id)


def evidence(record: PatientRecord, flag: StoredFlag) -> list[Source]:
    return [record.events[e] for e in flag.evidence if e in record.events]


def changed_at(record: PatientRecord, flag: StoredFlag) -> list[datetime]:
    """The moments the flag's state changed (for meta.lastUpdated), besides its evidence."""
    ack = flag.acknowledgement
    return [m for m in (flag.raised_at, flag.resolved_at, ack.acknowledged_at if ack else None) if m is not None]


def flag_identifier(f: StoredFlag) -> dict[str, str]:
    """The flag's id in carecoord's API (``GET /v1/flags/{id}``)."""
    return {"system": URI, "value": f"urn:uuid:{f.flag_id}"}


def rule_concept(flag: StoredFlag) -> dict[str, object]:
    rule = RULES_BY_ID.get(flag.rule_id)
    return concept(RISK_RULE, flag.rule_id, rule.description if rule else words(flag.rule_id), text=flag.explanation)


def flag(record: PatientRecord, f: StoredFlag) -> Resource:
    """Active while unresolved; a flag a backdated event withdrew was never true of the history:
    entered-in-error."""
    status = "entered-in-error" if f.withdrawn else ("inactive" if f.resolved_at else "active")
    priority, display = FLAG_PRIORITY_BY_SEVERITY[f.severity]
    category = FLAG_CATEGORIES.get(f.rule_id, "clinical")
    return shell("Flag", flag_resource_id(f), evidence(record, f), also=changed_at(record, f)) | {
        "extension": [{"url": FLAG_PRIORITY, "valueCodeableConcept": concept(FLAG_PRIORITY_CODES, priority, display,
                                                                              text=f.severity)}],
        "identifier": [flag_identifier(f)],
        "status": status,
        "category": [concept(FLAG_CATEGORY, category, category.capitalize())],
        "code": rule_concept(f),
        "subject": patient_ref(record.patient_id),
        "period": period(f.raised_at, f.resolved_at),
    }


def implicated_courses(record: PatientRecord, f: StoredFlag) -> list[str]:
    """The MedicationStatements of the courses the flag's evidence belongs to, in evidence order."""
    out: list[str] = []
    for s in evidence(record, f):
        body = s.fact.body
        medication_id = getattr(body, "medication_id", None) if isinstance(
            body, i.MedicationStarted | i.DoseAdjusted | i.MedicationDiscontinued | i.AdverseEffectReported) else None
        course = record.courses.get(medication_id) if medication_id else None
        if course is not None and statement_id(course) not in out:
            out.append(statement_id(course))
    return out


def detected_issue(record: PatientRecord, f: StoredFlag) -> Resource | None:
    known = DETECTED_ISSUE_CODES.get(f.rule_id)
    if known is None:
        return None
    code, display = known
    return shell("DetectedIssue", detected_issue_id(f), evidence(record, f), also=changed_at(record, f)) | {
        "identifier": [flag_identifier(f)],
        "status": "cancelled" if f.withdrawn else "final",
        "code": concept(ACT_CODE, code, display),
        "severity": DETECTED_ISSUE_SEVERITY[f.severity],
        "patient": patient_ref(record.patient_id),
        "identifiedPeriod": period(f.raised_at, f.resolved_at),
        "implicated": [ref("MedicationStatement", sid) for sid in implicated_courses(record, f)],
        "detail": f.explanation,
    }
