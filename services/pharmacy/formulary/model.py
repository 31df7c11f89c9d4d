"""What the pharmacy service knows about a drug ingredient, as immutable values.

A loaded formulary is shared by every request and snapshotted into events, so nothing in
it may change after loading. Invariants (well-formed codes, class consistent with the ATC
code, unique codes) are checked on construction: a bad data file fails at start-up, not in
the middle of a prescription.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

CodeSystem = Literal["RxNorm", "ATC"]
CODE_SYSTEMS: tuple[CodeSystem, ...] = ("RxNorm", "ATC")

ATC_CODE = re.compile(r"^[A-Z]\d\d[A-Z]{2}\d\d$")
"""A level-5 (chemical substance) ATC code such as N06AB06."""

ATC_GROUP = re.compile(r"^[A-Z]\d\d[A-Z]{2}$")
"""A level-4 (chemical subgroup) ATC code such as N06AB: our therapeutic class."""

RXCUI = re.compile(r"^[1-9]\d*$")


def normalize_code(code: str, system: CodeSystem) -> str:
    """The form codes are indexed under: ATC codes are upper case, RXCUIs are digits."""
    if system == "ATC":
        return code.strip().upper()
    if system == "RxNorm":
        return code.strip()
    raise ValueError(f"unknown code system: {system!r}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TherapeuticClass(_Frozen):
    """An ATC level-4 group; two active drugs of one group are a duplication to review."""

    code: str = Field(pattern=ATC_GROUP.pattern)
    label: str = Field(min_length=1)
    atc_name: str = Field(min_length=1)


class DrugFlags(_Frozen):
    """The properties the coordination rules combine into dangerous-combination flags."""

    opioid: StrictBool
    benzodiazepine: StrictBool
    serotonergic: StrictBool
    qt_prolonging: StrictBool
    cns_depressant: StrictBool


class DoseLimit(_Frozen):
    """A ceiling on the total amount per day; always in mg so it compares across units."""

    value: float = Field(gt=0, allow_inf_nan=False)
    unit: Literal["mg"] = "mg"


class Source(_Frozen):
    """A citation, so that an auditor can trace every value to its origin."""

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    url: str | None = None
    used_for: str = Field(min_length=1)


class FormularyEntry(_Frozen):
    """One ingredient. ``rxnorm`` is None where the RXCUI has not been confirmed."""

    name: str = Field(min_length=1)
    rxnorm: str | None = Field(default=None, pattern=RXCUI.pattern)
    atc: str = Field(pattern=ATC_CODE.pattern)
    therapeutic_class: TherapeuticClass
    flags: DrugFlags
    max_daily_dose: DoseLimit | None = None
    synonyms: tuple[str, ...] = ()
    note: str | None = None

    @model_validator(mode="after")
    def _class_matches_atc(self) -> FormularyEntry:
        if self.therapeutic_class.code != self.atc[:5]:
            raise ValueError(
                f"{self.name}: therapeutic class {self.therapeutic_class.code} is not the ATC group of {self.atc}"
            )
        return self


@dataclass(frozen=True)
class Formulary:
    """A versioned, read-only drug list with lookups by RxNorm and ATC code."""

    version: str
    drugs: tuple[FormularyEntry, ...]
    sources: tuple[Source, ...] = ()
    _index: Mapping[tuple[CodeSystem, str], FormularyEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.version.strip():
            raise ValueError("a formulary needs a version")
        index: dict[tuple[CodeSystem, str], FormularyEntry] = {}
        for entry in self.drugs:
            keys: list[tuple[CodeSystem, str]] = [("ATC", entry.atc)]
            if entry.rxnorm is not None:
                keys.append(("RxNorm", entry.rxnorm))
            for key in keys:
                if key in index:
                    raise ValueError(f"{key[0]} code {key[1]} is used by both {index[key].name} and {entry.name}")
                index[key] = entry
        object.__setattr__(self, "_index", MappingProxyType(index))

    def lookup(self, code: str, system: CodeSystem) -> FormularyEntry | None:
        """The entry for an ingredient code, or None if the formulary does not know it."""
        return self._index.get((system, normalize_code(code, system)))

    def __len__(self) -> int:
        return len(self.drugs)

    def __iter__(self) -> Iterator[FormularyEntry]:
        return iter(self.drugs)
