"""Code systems, value mappings and resource ids of the FHIR export; pure.

External systems are the ones FHIR names for them. What has no external code (instruments
without a LOINC total, bands, items, modalities, care steps, rules) uses a local code system
under ``LOCAL``: a URN of this system's own, so no one mistakes it for a published terminology.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ADVERSE_EVENT_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
CANCELLATION_REASON = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
URI = "urn:ietf:rfc:3986"

LOCAL = "urn:carecoord:fhir:CodeSystem:"
INSTRUMENT = LOCAL + "instrument"
INSTRUMENT_ITEM = LOCAL + "instrument-item"
SCORE_BAND = LOCAL + "score-band"
MODALITY = LOCAL + "therapy-modality"
CARE_STEP = LOCAL + "care-step"
RISK_RULE = LOCAL + "risk-rule"
ADVERSE_EFFECT = LOCAL + "adverse-effect"
DISCONTINUATION_REASON = LOCAL + "discontinuation-reason"
STAFF = "urn:carecoord:staff"
CLINIC = "urn:carecoord:clinic"

DRUG_SYSTEMS = {"RxNorm": RXNORM, "ATC": ATC}

TOTAL_LOINC: dict[str, tuple[str, str]] = {
    "PHQ-9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    "GAD-7": ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
    "PHQ-15": ("70273-8", "Patient Health Questionnaire 15 item (PHQ-15) total score [Reported]"),
}
"""The instruments whose total has a LOINC code (DOMAIN.md); every other is local."""

LOINC_CODE = re.compile(r"^[0-9]{1,7}-[0-9]$")

UCUM_UNITS = {"mg": "mg", "mcg": "ug", "g": "g", "mL": "mL", "IU": "[iU]", "drop": "[drp]",
              "tablet": "{tablet}", "patch": "{patch}"}
"""Pharmacy's dose units as UCUM codes (a count of tablets or patches is a UCUM annotation)."""

ADVERSE_EFFECTS: dict[str, str] = {
    "nausea": "Nausea", "headache": "Headache", "insomnia": "Insomnia", "somnolence": "Somnolence",
    "dizziness": "Dizziness", "sexual_dysfunction": "Sexual dysfunction", "weight_gain": "Weight gain",
    "agitation": "Agitation", "tremor": "Tremor", "dry_mouth": "Dry mouth", "constipation": "Constipation",
    "sweating": "Sweating", "serotonin_syndrome": "Serotonin syndrome", "qt_prolongation": "QT prolongation",
    "bleeding": "Bleeding", "hyponatraemia": "Hyponatraemia", "suicidal_ideation": "Suicidal ideation",
    "other": "Other adverse effect"}
"""Pharmacy's adverse-effect codes with their display (AdverseEvent.event); a code not listed
here (a later list) is exported without a display."""

FLAG_CATEGORIES = {"polypharmacy": "drug", "dangerous_combination": "drug", "rapid_titration": "drug",
                   "unreviewed_adverse_effect": "drug", "safety": "safety", "disengagement": "behavioral"}
DETECTED_ISSUE_CODES = {"polypharmacy": ("POLY", "polypharmacy"), "dangerous_combination": ("DRG", "drug interaction")}
"""The rules whose flags are also a DetectedIssue, with their v3 ActCode."""

DETECTED_ISSUE_SEVERITY = {"urgent": "high", "high": "high", "warning": "moderate", "info": "low"}
FLAG_PRIORITY = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY_CODES = "http://terminology.hl7.org/CodeSystem/flag-priority-code"
FLAG_PRIORITY_BY_SEVERITY = {"urgent": ("PH", "High priority"), "high": ("PH", "High priority"),
                             "warning": ("PM", "Medium priority"), "info": ("PL", "Low priority")}

# Fixed for good: a new namespace would give every exported resource a new id.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:carecoord:coordination:fhir")


def resource_id(resource_type: str, key: str) -> str:
    """The id of the resource of ``resource_type`` made from the source named by ``key`` (an event,
    a stream, a flag): the same in every call and every replay."""
    return str(uuid.uuid5(NAMESPACE, f"{resource_type}/{key}"))


def organization_id(clinic_id: str) -> str:
    return resource_id("Organization", clinic_id)


def ref(resource_type: str, resource_id_: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id_}"}


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code} | ({"display": display} if display else {})


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, object]:
    return {"coding": [coding(system, code, display)]} | ({"text": text} if text else {})


def instant(moment: datetime) -> str:
    """FHIR dateTime/instant text: ISO 8601 with its offset, as the source gave it."""
    return moment.isoformat()


def words(code: str) -> str:
    return code.replace("_", " ")
