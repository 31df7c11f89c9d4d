"""Archetypes that each raise one risk rule of DOMAIN.md, and only that one.

Each is an ordinary course of care (:class:`.story.Story`) with one thing going wrong. The
``open`` variant leaves it unanswered to this day (the flag is open on the worklist); the
``resolved`` variant has the team answer it late (the flag was raised, then resolved).
Everything else in these stories is answered in time, so no other rule fires.
"""

from __future__ import annotations

from collections.abc import Callable

from .care import NON_RESPONDER, RESPONDER, partial_then_better, stalled_then_better, with_relapse
from .catalog import switch_for
from .story import Story


def polypharmacy(s: Story) -> None:
    """Chronic pain with depression: five drugs at once once ibuprofen joins, none of a risky pair."""
    c, d = s.chart, s.day
    s.presentation, s.knots = "pain", partial_then_better(46)
    s.antidepressant("duloxetine")
    c.start("paracetamol", d(8))
    pregabalin = c.start("pregabalin", d(20))
    c.titrate(pregabalin, d(34))
    zolpidem = c.start("zolpidem", d(35))
    c.escalate("pharmacotherapy", "partial_response", d(42, 12))
    c.start("ibuprofen", d(46))  # the fifth distinct drug: raised here
    s.open_episode(s.therapy("act"))
    s.scheduled_review()
    if s.variant == "resolved":
        c.conference(["review_medication", "deprescribe"], d(100, 13))
        c.stop(zolpidem, d(104), "other", note="deprescribing after a case conference")
    else:
        c.conference(["continue_plan", "review_medication"], d(120, 13))


def dangerous_combination(s: Story) -> None:
    """One risky pair, by the variant's kind: opioid with a benzodiazepine, opioid with a
    serotonergic antidepressant, or a second QT-prolonging SSRI started without stopping the first."""
    c, d = s.chart, s.day
    kind, outcome = s.variant.split("/")
    stop_at = None
    if kind == "opioid_benzodiazepine":
        s.presentation, s.knots = "anxious", RESPONDER
        c.start("lorazepam", d(3))
        second = c.start("oxycodone", d(s.last - 40))
        stop_at = s.last - 30
    elif kind == "opioid_serotonergic":
        s.presentation, s.knots = "pain", RESPONDER
        s.antidepressant("duloxetine")
        c.start("paracetamol", d(8))
        second = c.start("tramadol", d(60))
        c.conference(["review_medication"], d(70, 13))
        stop_at = 72
    else:  # duplicate_qt: escitalopram meant to replace citalopram, which nobody stopped
        s.knots = partial_then_better(52)
        second = s.antidepressant("citalopram")
        c.escalate("pharmacotherapy", "partial_response", d(50, 12))
        c.start("escitalopram", d(52))
        stop_at = 66
    if outcome == "resolved":
        c.stop(second, d(stop_at), "interaction")
    s.open_episode(s.therapy("cbt" if kind == "opioid_benzodiazepine" else None))
    s.scheduled_review()


def stalled_escalation(s: Story) -> None:
    """An escalation decided for non-response and nothing enacted within 14 days."""
    c, d = s.chart, s.day
    decided = s.rng.randint(42, 60)
    course = s.antidepressant("sertraline")
    c.escalate("pharmacotherapy", "non_response", d(decided, 12))
    if s.variant == "resolved":
        s.knots = stalled_then_better(decided + 24)
        c.titrate(course, d(decided + 24), "insufficient_response")
    else:
        s.knots = ((0, 1.0), (14, 0.9), (28, 0.82), (decided, 0.8), (400, 0.78))
    s.open_episode(s.therapy())
    s.scheduled_review()


def stalled_progress(s: Story) -> None:
    """No response after eight weeks at one care step, and no escalation decided."""
    c, d = s.chart, s.day
    s.presentation = s.rng.choice(("depressive", "anxious"))
    course = s.antidepressant("escitalopram")
    therapy = s.therapy("cbt")
    if s.variant == "resolved":
        s.knots = stalled_then_better(94)
        c.escalate("both", "non_response", d(90, 12))
        c.stop(course, d(94), "switch")
        c.start(switch_for("escitalopram"), d(94))
        therapy.changes.append((s.t0 + 97, "modality", "behavioral_activation", "non_response"))
    else:
        s.knots = NON_RESPONDER
    s.open_episode(therapy)
    s.scheduled_review()


def plan_review_due(s: Story) -> None:
    """A life change for the worse, and no care-plan review or case conference within 14 days."""
    c, d = s.chart, s.day
    changed = s.rng.randint(90, 110) if s.variant == "resolved" else s.last - s.rng.randint(20, 35)
    s.knots = with_relapse(RESPONDER, changed, peak=0.35)
    s.antidepressant("sertraline")
    c.life(s.rng.choice(("employment", "housing", "financial")), "worsened", "high", d(changed, 16),
           note="synthetic demo note")
    if s.variant == "resolved":
        c.review("life_change", ["daily_functioning", "return_to_work"], d(changed + s.rng.randint(20, 28), 15))
    s.open_episode(s.therapy())
    s.scheduled_review()


def disengagement(s: Story) -> None:
    """Two sessions missed in a row; in the open variant the patient stops coming altogether."""
    s.knots = RESPONDER
    s.antidepressant(s.rng.choice(("sertraline", "mirtazapine")))
    if s.variant == "resolved":
        outcomes = {9: "completed", 10: "missed", 11: "cancelled_by_patient", 12: "completed"}
        s.open_episode(s.therapy(outcomes=outcomes))
    else:
        week = s.rng.randint(11, 13)
        s.open_episode(s.therapy(outcomes={week - 1: "completed", week: "missed", week + 1: "missed"}),
                       last=week + 1)
    s.scheduled_review()


def rapid_titration(s: Story) -> None:
    """Two dose increases of one course within seven days."""
    c, d = s.chart, s.day
    if s.variant == "resolved":
        s.knots = RESPONDER
        course = s.antidepressant("sertraline", titrate=False)
        c.titrate(course, d(9), "patient_preference")
        c.titrate(course, d(14), "patient_preference")
    else:  # a relapse near the end, answered too fast
        changed = s.last - 22
        s.knots = with_relapse(RESPONDER, changed, peak=0.55)
        course = s.antidepressant("sertraline")
        c.life("family", "worsened", "moderate", d(changed, 16))
        c.review("life_change", ["relapse_prevention"], d(changed + 5, 15))
        c.escalate("pharmacotherapy", "relapse", d(s.last - 8, 12))
        c.titrate(course, d(s.last - 5), "insufficient_response")
        c.titrate(course, d(s.last - 1), "insufficient_response")
    s.open_episode(s.therapy())
    s.scheduled_review()


def unreviewed_adverse_effect(s: Story) -> None:
    """A moderate or severe adverse effect with no dose change, stop or review within 7 days."""
    c, d = s.chart, s.day
    s.knots = RESPONDER
    if s.variant == "resolved":
        course = s.antidepressant("sertraline", titrate=False)
        c.effect(course, "nausea", "moderate", d(9, 8))
        c.adjust(course, 25, d(19), "adverse_effect")
        c.adjust(course, 50, d(33), "titration")
        c.titrate(course, d(47))
    else:
        course = s.antidepressant("sertraline")
        c.effect(course, s.rng.choice(("sexual_dysfunction", "dizziness")), s.rng.choice(("moderate", "severe")),
                 d(s.last - 14, 8))
    s.open_episode(s.therapy())
    s.scheduled_review()


def safety(s: Story) -> None:
    """PHQ-9 item 9 above zero: a safety plan follows; in the open variant it is the latest answer."""
    c, d = s.chart, s.day
    course = s.antidepressant("sertraline")
    if s.variant == "resolved":
        s.knots, s.safety = partial_then_better(46), {28: 1}
        c.conference(["safety_plan", "increase_monitoring"], d(29, 13))
        c.review("safety_concern", ["symptom_reduction", "self_management"], d(30, 15))
        c.escalate("pharmacotherapy", "partial_response", d(42, 12))
        c.titrate(course, d(46))
    else:
        changed = s.last - 35
        last = s.last_phq9_day()
        s.knots, s.safety = with_relapse(RESPONDER, changed, peak=0.65), {last: 1}
        c.life("bereavement", "worsened", "high", d(changed, 16))
        c.review("life_change", ["relapse_prevention", "self_management"], d(changed + 6, 15))
        c.escalate("both", "relapse", d(changed + 10, 12))
        c.titrate(course, d(changed + 13), "insufficient_response")
        c.conference(["safety_plan", "increase_monitoring"], d(last + 1, 13))
    s.open_episode(s.therapy())
    s.scheduled_review()


RULE_STORIES: dict[str, Callable[[Story], None]] = {
    "polypharmacy": polypharmacy,
    "dangerous_combination": dangerous_combination,
    "stalled_escalation": stalled_escalation,
    "stalled_progress": stalled_progress,
    "plan_review_due": plan_review_due,
    "disengagement": disengagement,
    "rapid_titration": rapid_titration,
    "unreviewed_adverse_effect": unreviewed_adverse_effect,
    "safety": safety,
}
"""Archetype name = the rule id it raises."""
