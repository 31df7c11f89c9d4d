"""Control archetypes: realistic courses of care in which the team answers everything in time,
so that no rule raises a flag — a titration, an escalation enacted within days, a step up, a
switch after an adverse effect, a relapse after a life change met with a review."""

from __future__ import annotations

from collections.abc import Callable

from .care import RESPONDER, partial_then_better, with_relapse
from .catalog import augmentation_for, switch_for
from .story import Story


def responder(s: Story) -> None:
    """Responds to the first antidepressant and psychotherapy, which ends in remission."""
    c, d = s.chart, s.day
    s.knots = RESPONDER
    drug = s.rng.choice(("sertraline", "escitalopram", "mirtazapine"))
    course = s.antidepressant(drug)
    c.effect(course, "nausea" if drug != "mirtazapine" else "somnolence", "mild", d(6, 8))
    if s.rng.random() < 0.5:
        sleep = c.start("zolpidem", d(10))
        c.stop(sleep, d(38), "course_completed")
    s.ended_episode(s.therapy(), sessions=s.rng.randint(12, 15))
    s.scheduled_review()
    c.life("employment", "improved", "low", d(140, 16))  # back at work: the goals are revisited
    c.review("life_change", ["return_to_work", "relapse_prevention"], d(140 + s.rng.randint(3, 10), 15))


def escalated_in_time(s: Story) -> None:
    """A partial response, escalated before eight weeks at the step and enacted within days:
    a higher dose or an add-on (``dose``), or a higher care step (``step_up``)."""
    c, d = s.chart, s.day
    decided = s.rng.randint(42, 54)
    drug = s.rng.choice(("sertraline", "escitalopram", "duloxetine"))
    course = s.antidepressant(drug)
    c.conference(["escalate_pharmacotherapy" if s.variant == "dose" else "escalate_psychotherapy"],
                 d(decided - 1, 13))
    if s.variant == "dose":
        s.knots = partial_then_better(decided + 4)
        c.escalate("pharmacotherapy", "partial_response", d(decided, 12))
        if c.can_titrate(course):
            c.titrate(course, d(decided + 4), "insufficient_response")
        else:
            c.start(augmentation_for(drug), d(decided + 4))
        therapy = s.therapy("cbt", changes=[(decided + 10, "modality", "act", "partial_response")])
    else:
        s.knots = partial_then_better(decided + 7)
        c.escalate("psychotherapy", "partial_response", d(decided, 12))
        therapy = s.therapy(changes=[(decided + 7, "step", 3, "partial_response")])
    s.open_episode(therapy)
    s.scheduled_review()


def relapse_handled(s: Story) -> None:
    """Remission, then a life change and a relapse: reviewed within days, escalated, recovered."""
    c, d = s.chart, s.day
    changed = s.rng.randint(100, 125)
    s.knots = with_relapse(RESPONDER, changed)
    course = s.antidepressant(s.rng.choice(("sertraline", "duloxetine", "venlafaxine")))
    c.life(s.rng.choice(("employment", "relationship", "financial", "caregiving")), "worsened",
           s.rng.choice(("moderate", "high")), d(changed, 16))
    c.review("life_change", ["relapse_prevention", "daily_functioning"], d(changed + s.rng.randint(4, 10), 15))
    c.escalate("pharmacotherapy", "relapse", d(changed + 12, 12))
    c.titrate(course, d(changed + 15), "insufficient_response")
    s.open_episode(s.therapy())
    s.scheduled_review()


def switch_after_effect(s: Story) -> None:
    """A moderate adverse effect answered within days by a switch to another class."""
    c, d = s.chart, s.day
    s.knots = RESPONDER
    first = s.rng.choice(("sertraline", "escitalopram", "citalopram"))
    course = c.start(first, d(2))
    c.effect(course, s.rng.choice(("agitation", "nausea", "headache")), "moderate", d(10, 8))
    c.stop(course, d(13), "adverse_effect")
    second = c.start(switch_for(first), d(14))
    c.titrate(second, d(28))
    s.ended_episode(s.therapy(), sessions=s.rng.randint(12, 15))
    s.scheduled_review()
    c.conference(["continue_plan"], d(120, 13))


CONTROL_STORIES: dict[str, Callable[[Story], None]] = {
    "responder": responder,
    "escalated_in_time": escalated_in_time,
    "relapse_handled": relapse_handled,
    "switch_after_effect": switch_after_effect,
}
