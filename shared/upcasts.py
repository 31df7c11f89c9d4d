"""Upcasts of published payloads that more than one service reads: pure JSON → JSON steps.

A stored event is never rewritten (its hash seals it), so a payload version that changed is
read through a step from each old version to the next. The producer registers the steps with
its :class:`shared.envelope.EventRegistry`; a consumer that reads the topic through models of
its own (coordination) applies the same steps with :func:`upcast`, so both read one shape.
Steps name fields, never a service's classes: services do not import each other.

Pharmacy v1 → v2: v1 carried what the client typed (an indication, reasons, an adverse
effect's wording, the drug's name), which Kafka keeps for ever; v2 carries codes. A v1 reason
or effect reads as ``other`` (words are not guessed into a code), an indication that already
was an ICD-10 code stays as the coded indication, any other indication and the client's drug
name read as absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from shared.envelope import EventRegistry

Payload = dict[str, Any]
Step = Callable[[Payload], Payload]

ICD10_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
"""An ICD-10 code (F32, F32.1, F45.41): the form of pharmacy's coded indication."""


def _other_unless_blank(value: Any) -> str | None:
    return "other" if isinstance(value, str) and value.strip() else None


def _indication(value: Any) -> dict[str, str] | None:
    text = value.strip() if isinstance(value, str) else ""
    return {"system": "ICD-10", "code": text} if ICD10_CODE.match(text) else None


def _medication_started_v1(data: Payload) -> Payload:
    drug = data.get("drug")
    out = {**data, "indication": _indication(data.get("indication")),
           "override_reason": _other_unless_blank(data.get("override_reason"))}
    if isinstance(drug, dict):
        out["drug"] = {**drug, "name": None}  # the client's text, not the formulary's name
    return out


def _dose_adjusted_v1(data: Payload) -> Payload:
    return {**data, "reason": "other", "override_reason": _other_unless_blank(data.get("override_reason"))}


def _medication_discontinued_v1(data: Payload) -> Payload:
    return {**data, "reason": "other"}


def _adverse_effect_reported_v1(data: Payload) -> Payload:
    return {**data, "effect": "other"}


PHARMACY: dict[tuple[str, int], Step] = {
    ("MedicationStarted", 1): _medication_started_v1,
    ("DoseAdjusted", 1): _dose_adjusted_v1,
    ("MedicationDiscontinued", 1): _medication_discontinued_v1,
    ("AdverseEffectReported", 1): _adverse_effect_reported_v1,
}
"""(event name, from version) → the payload one version later."""

PUBLISHED: dict[str, Mapping[tuple[str, int], Step]] = {"pharmacy": PHARMACY}
"""Every service's steps, by service."""


def upcast(service: str, event_name: str, version: int, payload: Mapping[str, Any]) -> Payload:
    """``payload`` of ``version`` brought through every step known from there on: the newest
    shape this module knows (a payload already newest is returned as it is)."""
    steps = PUBLISHED.get(service, {})
    data = dict(payload)
    while (step := steps.get((event_name, version))) is not None:
        data = step(data)
        version += 1
    return data


def register(registry: EventRegistry, service: str) -> None:
    """Register ``service``'s steps with an :class:`shared.envelope.EventRegistry`."""
    for (event_name, version), step in PUBLISHED.get(service, {}).items():
        registry.upcaster(service, event_name, version)(step)
