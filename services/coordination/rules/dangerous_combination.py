"""Dangerous combinations: two risky drugs active at the same moment, one flag per pair of drugs.

Pairs (from the formulary snapshot each MedicationStarted carries): opioid + benzodiazepine
(FDA boxed warning 2016), opioid + serotonergic drug (FDA 2016, serotonin syndrome), two
QT-prolonging drugs (CredibleMeds Known Risk), two drugs of one therapeutic class (ATC level 4,
duplication). Each kind's severity is a threshold ("off" disables it for a clinic). Raised when
both drugs are active; resolved when either stops. A pair matching several kinds is one flag at
the most severe of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

from .facts import CourseStarted, DrugKey, PatientFacts
from .flags import SEVERITY_RANK, FlagState, Severity
from .medication import drug_instants
from .text import code, day

RULE_ID = "dangerous_combination"
VERSION = 1
DESCRIPTION = "two risky drugs active together (opioid+benzodiazepine, opioid+serotonergic, two QT, same class)"


@dataclass(frozen=True, slots=True)
class Thresholds:
    opioid_benzodiazepine: str
    opioid_serotonergic: str
    qt_prolonging_pair: str
    same_therapeutic_class: str

    def check(self) -> str | None:
        bad = [v for v in (self.opioid_benzodiazepine, self.opioid_serotonergic, self.qt_prolonging_pair,
                           self.same_therapeutic_class) if v not in (*SEVERITY_RANK, "off")]
        return f"severity must be one of info, warning, high, urgent, off (got {bad[0]})" if bad else None


@dataclass(frozen=True, slots=True)
class _Profile:
    """A drug's risk properties: any of its active courses' snapshots saying so."""

    label: str
    opioid: bool
    benzodiazepine: bool
    serotonergic: bool
    qt: bool
    classes: frozenset[str]


def _profile(drug: DrugKey, courses: tuple[CourseStarted, ...]) -> _Profile:
    atc = next((c.atc for c in courses if c.atc), None)
    return _Profile(label=code(atc) if atc else f"{code(drug.system)} {code(drug.code)}",
                    opioid=any(c.opioid for c in courses), benzodiazepine=any(c.benzodiazepine for c in courses),
                    serotonergic=any(c.serotonergic for c in courses), qt=any(c.qt_prolonging for c in courses),
                    classes=frozenset(c.therapeutic_class for c in courses if c.therapeutic_class))


def _kinds(a: _Profile, b: _Profile, th: Thresholds) -> list[tuple[str, str]]:
    """(severity, phrase) of each risky kind the pair matches and the clinic has not switched off."""
    found: list[tuple[str, str]] = []
    if (a.opioid and b.benzodiazepine) or (b.opioid and a.benzodiazepine):
        found.append((th.opioid_benzodiazepine, "opioid with benzodiazepine"))
    if (a.opioid and b.serotonergic) or (b.opioid and a.serotonergic):
        found.append((th.opioid_serotonergic, "opioid with serotonergic drug"))
    if a.qt and b.qt:
        found.append((th.qt_prolonging_pair, "two QT-prolonging drugs"))
    shared = sorted(a.classes & b.classes)
    if shared:
        found.append((th.same_therapeutic_class, f"same therapeutic class {code(shared[0])}"))
    return [(severity, phrase) for severity, phrase in found if severity != "off"]


def _raise(pair: tuple[DrugKey, DrugKey], active: Mapping[DrugKey, tuple[CourseStarted, ...]],
           kinds: list[tuple[str, str]], at: datetime, labels: tuple[str, str]) -> FlagState:
    starts = tuple(sorted(c.event_id for drug in pair for c in active[drug]))
    severity = cast(Severity, max((s for s, _ in kinds), key=SEVERITY_RANK.__getitem__))
    phrases = ", ".join(p for _, p in kinds)
    return FlagState(
        key=(pair[0].system, pair[0].code, pair[1].system, pair[1].code, *starts), severity=severity,
        raised_at=at, evidence=starts,
        explanation=f"{labels[0]} and {labels[1]} active together since {day(at)}: {phrases}")


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    flags: list[FlagState] = []
    open_: dict[tuple[DrugKey, DrugKey], FlagState] = {}
    open_by_drug: dict[DrugKey, set[tuple[DrugKey, DrugKey]]] = defaultdict(set)
    profiles: dict[DrugKey, _Profile] = {}
    for instant in drug_instants(facts):
        if instant.at > as_of:
            break
        # Only pairs with a drug whose courses changed now can change: the cost per instant is
        # (changed drugs × active drugs), not every pair again.
        changed = {c.drug for c in instant.started} | {drug for drug, _ in instant.stopped}
        for drug in changed:
            if drug in instant.active:
                profiles[drug] = _profile(drug, instant.active[drug])
            else:
                profiles.pop(drug, None)
        for pair in sorted({p for drug in changed for p in open_by_drug[drug]}):
            a, b = pair
            if a in profiles and b in profiles and _kinds(profiles[a], profiles[b], th):
                continue
            stop = next((event_id for drug, event_id in instant.stopped if drug in pair), None)
            flags.append(replace(open_.pop(pair), resolved_at=instant.at, resolved_by=stop))
            open_by_drug[a].discard(pair)
            open_by_drug[b].discard(pair)
        for drug in sorted(changed & profiles.keys()):
            for other in sorted(profiles):
                pair = (drug, other) if drug < other else (other, drug)
                if other == drug or pair in open_:
                    continue
                kinds = _kinds(profiles[pair[0]], profiles[pair[1]], th)
                if kinds:
                    open_[pair] = _raise(pair, instant.active, kinds, instant.at,
                                         (profiles[pair[0]].label, profiles[pair[1]].label))
                    open_by_drug[drug].add(pair)
                    open_by_drug[other].add(pair)
    flags.extend(open_.values())
    return flags
