"""Checks every FHIR test applies to what the export wrote: each resource parses with the
``fhir.resources`` R4B model of its type, codings name the right systems, references resolve."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
TOTAL_LOINC = {"PHQ-9": "44261-6", "GAD-7": "70274-6", "PHQ-15": "70273-8"}


def validated(resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each resource through its R4B model (raises on the first that does not parse)."""
    out = []
    for r in resources:
        get_fhir_model_class(r["resourceType"]).model_validate(r)
        out.append(r)
    return out


def counts(resources: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(r["resourceType"] for r in resources)


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def unresolved(resources: Sequence[dict[str, Any]]) -> set[str]:
    """References (``Type/id``) that name no resource of the set."""
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    return {ref for r in resources for ref in references(r) if ref not in known}


def codings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "coding" in node and isinstance(node["coding"], list):
            yield from node["coding"]
        for value in node.values():
            yield from codings(value)
    elif isinstance(node, list):
        for item in node:
            yield from codings(item)


def check_code_systems(resources: Sequence[dict[str, Any]]) -> None:
    """Totals with a LOINC code carry it under LOINC's system; drugs are RxNorm or ATC; every dose
    and length is in UCUM."""
    for r in resources:
        match r["resourceType"]:
            case "Observation":
                instrument = r["code"]["text"].removesuffix(" total score")
                if instrument in TOTAL_LOINC:
                    assert r["code"]["coding"][0] == {"system": LOINC, "code": TOTAL_LOINC[instrument],
                                                      "display": r["code"]["coding"][0]["display"]}, r
            case "MedicationStatement":
                systems = [c["system"] for c in r["medicationCodeableConcept"]["coding"]]
                assert systems and set(systems) <= {RXNORM, ATC}, r
                for d in r["dosage"]:
                    assert d["doseAndRate"][0]["doseQuantity"]["system"] == UCUM, r
            case "Encounter":
                assert r["length"]["system"] == UCUM, r
            case _:
                pass
    for c in codings(list(resources)):
        assert c.get("system") and c.get("code"), c
