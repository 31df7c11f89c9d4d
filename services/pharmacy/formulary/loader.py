"""Reading the formulary data file.

Parsing (:func:`parse_formulary`) is pure and takes the decoded JSON document, so tests
and tools can build a formulary from any mapping; only :func:`read_formulary_text` touches
the file system. The shell loads the formulary once at start-up and hands it to the
decider, which never reads files itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .model import DoseLimit, DrugFlags, Formulary, FormularyEntry, Source, TherapeuticClass

PACKAGE = "services.pharmacy.formulary"
CURRENT_FILE = "formulary-2026.1.json"


class FormularyError(ValueError):
    """The formulary document is malformed or contradicts itself."""


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _ClassRecord(_Document):
    label: str = Field(min_length=1)
    atc_name: str = Field(min_length=1)


class _DrugRecord(_Document):
    name: str = Field(min_length=1)
    rxnorm: str | None
    atc: str
    therapeutic_class: str
    flags: DrugFlags
    max_daily_dose: DoseLimit | None
    synonyms: tuple[str, ...] = ()
    note: str | None = None


class _FormularyDocument(_Document):
    version: str = Field(pattern=r"^\d{4}\.\d+$")
    description: str | None = None
    sources: tuple[Source, ...] = Field(min_length=1)
    flag_definitions: dict[str, str] = Field(default_factory=dict)
    max_daily_dose_basis: str | None = None
    therapeutic_classes: dict[str, _ClassRecord]
    drugs: tuple[_DrugRecord, ...] = Field(min_length=1)


def _entry(record: _DrugRecord, classes: Mapping[str, _ClassRecord]) -> FormularyEntry:
    group = classes.get(record.therapeutic_class)
    if group is None:
        raise FormularyError(f"{record.name}: therapeutic class {record.therapeutic_class} is not defined")
    return FormularyEntry(
        name=record.name,
        rxnorm=record.rxnorm,
        atc=record.atc,
        therapeutic_class=TherapeuticClass(code=record.therapeutic_class, label=group.label, atc_name=group.atc_name),
        flags=record.flags,
        max_daily_dose=record.max_daily_dose,
        synonyms=record.synonyms,
        note=record.note,
    )


def parse_formulary(document: Mapping[str, Any]) -> Formulary:
    """Validate a decoded formulary document and build the lookup structure."""
    try:
        parsed = _FormularyDocument.model_validate(document)
        drugs = tuple(_entry(record, parsed.therapeutic_classes) for record in parsed.drugs)
        return Formulary(version=parsed.version, drugs=drugs, sources=parsed.sources)
    except FormularyError:
        raise
    except (ValidationError, ValueError) as exc:
        raise FormularyError(f"invalid formulary: {exc}") from exc


def read_formulary_text(path: Path | None = None) -> str:
    """The raw JSON: from ``path``, or the data file packaged with the service."""
    if path is not None:
        return path.read_text(encoding="utf-8")
    return resources.files(PACKAGE).joinpath(CURRENT_FILE).read_text(encoding="utf-8")


def load_formulary(path: Path | None = None) -> Formulary:
    """Read and parse a formulary; the packaged current version when ``path`` is None."""
    try:
        document = json.loads(read_formulary_text(path))
    except json.JSONDecodeError as exc:
        raise FormularyError(f"formulary is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise FormularyError("a formulary document must be a JSON object")
    return parse_formulary(document)
