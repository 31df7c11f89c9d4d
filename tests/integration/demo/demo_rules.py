"""The demo cohort's requests read as the coordination rules would read their events, without
any service running: each chart's steps become the rules' typed facts (drug classes and risk
flags from the pharmacy formulary, as MedicationStarted carries them) and the rules engine
says which flags they raise. Not a test module."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from services.coordination.rules import Flag, evaluate_facts, load_config
from services.coordination.rules import facts as f
from services.pharmacy.formulary import load_formulary
from shared.demo.chart import Chart, Step

FORMULARY = load_formulary()
CONFIG = load_config()
_REF = re.compile(r"\{(\w+)\}")


def _refs(step: Step) -> list[str]:
    return [r for r in _REF.findall(step.path) if r != "patient"]


def _time(body: dict[str, Any], name: str) -> datetime:
    return datetime.fromisoformat(body[name])


def chart_facts(chart: Chart, anchor: datetime, steps: list[Step] | None = None) -> f.PatientFacts:
    """The facts of ``steps`` (default: the whole chart), as coordination would build them."""
    out: dict[str, list[Any]] = defaultdict(list)
    doses: dict[str, float] = {}
    care_steps: dict[str, int] = {}
    for n, step in enumerate(steps if steps is not None else chart.ordered()):
        b, refs, eid = step.rendered(anchor), _refs(step), step.key
        match step.event:
            case "MedicationStarted":
                ref = step.saves[0] if step.saves else ""
                entry = FORMULARY.lookup(b["drug"]["code"], "RxNorm")
                assert entry is not None, b["drug"]
                doses[ref] = b["dose"]
                out["courses"].append((n, f.CourseStarted(
                    eid, _time(b, "started_at"), ref, f.DrugKey("RxNorm", b["drug"]["code"]), entry.atc,
                    entry.therapeutic_class.code, entry.flags.opioid, entry.flags.benzodiazepine,
                    entry.flags.serotonergic, entry.flags.qt_prolonging)))
            case "DoseAdjusted":
                direction = "increase" if b["dose"] > doses[refs[0]] else "decrease"
                doses[refs[0]] = b["dose"]
                out["dose_changes"].append((n, f.DoseChanged(eid, _time(b, "effective_at"), refs[0], direction)))
            case "MedicationDiscontinued":
                out["stops"].append((n, f.CourseStopped(eid, _time(b, "effective_at"), refs[0])))
            case "AdverseEffectReported":
                out["adverse_effects"].append((n, f.AdverseEffect(eid, _time(b, "observed_at"), refs[0],
                                                                  b["severity"])))
            case "AssessmentRecorded":
                items = tuple(b["item_scores"])
                out["scores"].append((n, f.Score(eid, _time(b, "administered_at"), b["instrument"], sum(items), items,
                                                 b["instrument"] == "PHQ-9" and items[8] > 0)))
            case "LifeCircumstanceChanged":
                out["life_changes"].append((n, f.LifeChange(eid, _time(b, "occurred_at"), b["category"],
                                                            b["direction"], b["impact"])))
            case "CarePlanReviewed":
                out["reviews"].append((n, f.Review(eid, _time(b, "reviewed_at"), "care_plan_review")))
            case "CaseConferenceHeld":
                out["reviews"].append((n, f.Review(eid, _time(b, "held_at"), "case_conference")))
            case "EscalationDecided":
                out["escalations"].append((n, f.Escalation(eid, _time(b, "decided_at"), None)))
            case "TherapyEpisodeStarted":
                ref = step.saves[0] if step.saves else ""
                care_steps[ref] = b["care_step"]
                out["episodes"].append((n, f.EpisodeStarted(eid, _time(b, "started_at"), ref, b["care_step"])))
            case "SessionCompleted":
                out["sessions"].append((n, f.SessionOutcome(eid, _time(b, "completed_at"), refs[0], refs[1],
                                                            "completed")))
            case "SessionMissed":
                out["sessions"].append((n, f.SessionOutcome(eid, _time(b, "missed_at"), refs[0], refs[1], "missed")))
            case "SessionCancelled":
                outcome = "cancelled_by_clinic" if b["by"] == "clinic" else "cancelled_by_patient"
                out["sessions"].append((n, f.SessionOutcome(eid, _time(b, "cancelled_at"), refs[0], refs[1],
                                                            outcome)))  # type: ignore[arg-type]
            case "CareStepChanged":
                out["step_changes"].append((n, f.StepChanged(eid, _time(b, "changed_at"), refs[0],
                                                             care_steps[refs[0]], b["to_step"])))
                care_steps[refs[0]] = b["to_step"]
            case "ModalityChanged":
                out["modality_changes"].append((n, f.ModalityChanged(eid, _time(b, "changed_at"), refs[0])))
            case "TherapyEpisodeEnded":
                out["episode_ends"].append((n, f.EpisodeEnded(eid, _time(b, "ended_at"), refs[0])))
    lists = {name: tuple(fact for _, fact in sorted(items, key=lambda i: (i[1].at, i[0])))
             for name, items in out.items()}
    return f.PatientFacts(patient_id=f"demo-{chart.number}", **lists)


def chart_flags(chart: Chart, anchor: datetime, as_of: datetime, steps: list[Step] | None = None) -> list[Flag]:
    return evaluate_facts(chart_facts(chart, anchor, steps), as_of, CONFIG.for_clinic(chart.clinic))


def passing_flags(chart: Chart, anchor: datetime, as_of: datetime) -> set[str]:
    """Ids of flags some prefix of the sending order raises that the whole chart does not
    (what coordination would raise and then withdraw, were every step a batch of its own)."""
    ordered = chart.ordered()
    final = {fl.flag_id for fl in chart_flags(chart, anchor, as_of)}
    seen: set[str] = set()
    for n in range(1, len(ordered)):
        seen |= {fl.flag_id for fl in chart_flags(chart, anchor, as_of, ordered[:n])}
    return seen - final
