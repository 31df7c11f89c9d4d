"""``evaluate``: one patient's flags as a pure function of the history known at ``as_of``.

One pass sorts the history and builds typed facts; each rule then walks its own facts. No
clock is read: the caller says what "now" is, so a live run, a periodic tick and a replay of
the same topics give the same flags with the same ids and times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from .config import ClinicRules
from .facts import PatientFacts
from .flags import Flag, FlagState, flag_id
from .history import HistoryEvent, known_as_of
from .reading import build_facts, patient_of
from .registry import RULES


def facts_as_of(history: Iterable[HistoryEvent], as_of: datetime, patient_id: str | None = None) -> PatientFacts:
    """The typed facts of what was recorded by ``as_of`` and had happened by then."""
    known = known_as_of(history, as_of)
    named = patient_of(known)
    if patient_id is not None and named is not None and named != patient_id:
        raise ValueError("the history is about another patient than the one named")
    patient = patient_id or named
    if patient is None:
        if known:
            raise ValueError("no event names the patient; pass patient_id")
        patient = ""
    return build_facts(patient, known)


def _within(state: FlagState, as_of: datetime) -> FlagState | None:
    """Nothing raised or resolved after ``as_of`` is shown (a guard; the rules respect it already)."""
    if state.raised_at > as_of:
        return None
    if state.resolved_at is not None and state.resolved_at > as_of:
        return replace(state, resolved_at=None, resolved_by=None)
    return state


def evaluate_facts(facts: PatientFacts, as_of: datetime, config: ClinicRules) -> list[Flag]:
    flags: list[Flag] = []
    for rule in RULES:
        thresholds = config.thresholds[rule.rule_id]
        values = config.values(rule.rule_id)
        version = config.rule_version(rule)
        for found in rule.evaluate(facts, as_of, thresholds):
            state = _within(found, as_of)
            if state is None:
                continue
            flags.append(Flag(
                flag_id=flag_id(rule.rule_id, facts.patient_id, state.key), rule_id=rule.rule_id,
                rule_version=version, patient_id=facts.patient_id, severity=state.severity,
                raised_at=state.raised_at, resolved_at=state.resolved_at, thresholds=values,
                evidence=state.evidence, explanation=state.explanation, resolved_by=state.resolved_by))
    flags.sort(key=lambda f: (f.raised_at, f.rule_id, f.flag_id))
    return flags


def evaluate(history: Iterable[HistoryEvent], as_of: datetime, config: ClinicRules, *,
             patient_id: str | None = None) -> list[Flag]:
    """Every flag of one patient as of ``as_of`` (open or resolved), ordered by raised_at.

    ``config`` is the patient's clinic's view of the thresholds (``RulesConfig.for_clinic``).
    ``patient_id`` defaults to the one every payload names.
    """
    return evaluate_facts(facts_as_of(history, as_of, patient_id), as_of, config)
