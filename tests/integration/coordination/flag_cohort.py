"""A cohort written through the HTTP APIs of assessment, pharmacy, therapy and coordination:
one patient per rule archetype, each with the flag it must raise (raised_at in event time,
resolved_at when it clears), and controls that must raise nothing. Every date is in the past
(the history starts 100 days ago), so every deadline has passed when the events arrive.
Not a test module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from coordination_chart import Chart
from coordination_support import Stack, enroll

Drug = dict[str, str]


def rx(name: str, code: str) -> Drug:
    return {"code": code, "system": "RxNorm", "name": name}


SERTRALINE, IBUPROFEN, PARACETAMOL = rx("sertraline", "36437"), rx("ibuprofen", "5640"), rx("paracetamol", "161")
PREGABALIN, QUETIAPINE = rx("pregabalin", "187832"), rx("quetiapine", "51272")
OXYCODONE, DIAZEPAM = rx("oxycodone", "7804"), rx("diazepam", "3322")
PHQ9_16 = [2, 2, 2, 2, 2, 2, 2, 2, 0]
_ = ""  # the timeline text these tests do not check


@dataclass(frozen=True)
class Expected:
    rule_id: str
    severity: str
    raised_at: datetime
    resolved_at: datetime | None = None


Archetype = Callable[[Chart], Awaitable[list[Expected]]]


async def polypharmacy(c: Chart) -> list[Expected]:
    d = c.day
    for n, drug in enumerate((SERTRALINE, IBUPROFEN, PARACETAMOL, PREGABALIN, QUETIAPINE), start=1):
        await c.start(drug, 10, 1, d(n, 10), _)
    return [Expected("polypharmacy", "warning", d(5, 10))]  # the fifth distinct drug


async def dangerous_combination(c: Chart) -> list[Expected]:
    await c.start(OXYCODONE, 5, 2, c.day(1, 10), _)
    await c.start(DIAZEPAM, 5, 1, c.day(2, 10), _)
    return [Expected("dangerous_combination", "high", c.day(2, 10))]  # opioid + benzodiazepine


async def stalled_escalation(c: Chart) -> list[Expected]:
    await c.escalate("pharmacotherapy", "non_response", c.day(10, 11), _)
    return [Expected("stalled_escalation", "warning", c.day(24, 11))]  # the default 14 days


async def stalled_progress(c: Chart) -> list[Expected]:
    await c.score("PHQ-9", PHQ9_16, c.day(1), _)
    await c.score("PHQ-9", [2, 2, 2, 2, 2, 1, 2, 1, 0], c.day(40), _)  # 14: no 50% drop
    return [Expected("stalled_progress", "warning", c.day(57))]  # baseline + 56 days


async def plan_review_due(c: Chart) -> list[Expected]:
    await c.life("employment", "worsened", "high", c.day(20), _, note="lost the job at Müller GmbH")
    return [Expected("plan_review_due", "warning", c.day(34))]


async def disengagement(c: Chart) -> list[Expected]:
    d = c.day
    await c.episode("cbt", 2, d(0, 14), _)
    s1 = await c.schedule(d(7, 14), _)
    await c.complete(s1, d(7, 14, 50), 50, _)
    for day_ in (14, 21):
        await c.no_show(await c.schedule(d(day_, 14), _), d(day_, 14), _)
    return [Expected("disengagement", "warning", d(21, 14))]  # the second miss in a row


async def rapid_titration(c: Chart) -> list[Expected]:
    d = c.day
    await c.start(SERTRALINE, 50, 1, d(1, 10), _)
    await c.adjust("sertraline", 100, d(3, 10), _)
    await c.adjust("sertraline", 150, d(6, 10), _)
    return [Expected("rapid_titration", "warning", d(6, 10), resolved_at=d(13, 10))]  # 7 quiet days


async def unreviewed_adverse_effect(c: Chart) -> list[Expected]:
    await c.start(SERTRALINE, 50, 1, c.day(1, 10), _)
    await c.effect("sertraline", "moderate", c.day(5, 8), _)
    return [Expected("unreviewed_adverse_effect", "warning", c.day(12, 8))]


async def safety(c: Chart) -> list[Expected]:
    await c.score("PHQ-9", [0, 0, 0, 0, 0, 0, 0, 1, 2], c.day(3), _)  # 3: too low a baseline to stall
    return [Expected("safety", "urgent", c.day(3))]


async def treated_in_time(c: Chart) -> list[Expected]:
    """Everything answered before its deadline: an escalation enacted, a life change reviewed, a
    mild adverse effect, a response, an episode ended after a completed session. Recent enough
    (days 80–96 of 100) that no deadline had passed when any prefix of it arrived either: a
    control raises nothing, not even for a moment."""
    d = c.day
    await c.start(SERTRALINE, 50, 1, d(80, 10), _)
    await c.score("PHQ-9", PHQ9_16, d(81), _)
    await c.effect("sertraline", "mild", d(82, 8), _)
    await c.episode("cbt", 2, d(85, 14), _)
    await c.life("housing", "worsened", "high", d(88), _)
    await c.escalate("pharmacotherapy", "partial_response", d(90, 11), _)
    await c.review("life_change", ["sleep_improvement"], d(92, 15), _)
    await c.complete(await c.schedule(d(92, 14), _), d(92, 14, 50), 50, _)
    await c.adjust("sertraline", 100, d(93, 10), _)
    await c.end("remission", d(95, 12), _)
    await c.score("PHQ-9", [1, 1, 1, 1, 1, 1, 0, 0, 0], d(96), _)  # 6: a response
    return []


async def quiet(c: Chart) -> list[Expected]:
    await c.score("PHQ-9", [0, 1, 0, 1, 0, 1, 0, 1, 0], c.day(2), _)  # 4: below any baseline that can stall
    return []


ARCHETYPES: dict[str, Archetype] = {
    "polypharmacy": polypharmacy, "dangerous_combination": dangerous_combination,
    "stalled_escalation": stalled_escalation, "stalled_progress": stalled_progress,
    "plan_review_due": plan_review_due, "disengagement": disengagement, "rapid_titration": rapid_titration,
    "unreviewed_adverse_effect": unreviewed_adverse_effect, "safety": safety,
}
CONTROLS: dict[str, Archetype] = {"treated_in_time": treated_in_time, "quiet": quiet}


def start_of_history() -> datetime:
    return (datetime.now(UTC) - timedelta(days=100)).replace(hour=9, minute=0, second=0, microsecond=0)


async def write_cohort(stack: Stack) -> dict[str, tuple[Chart, list[Expected]]]:
    """Every archetype and control, by name: its chart (patient, events) and its expected flags."""
    t0 = start_of_history()
    out = {}
    for name, archetype in {**ARCHETYPES, **CONTROLS}.items():
        chart = Chart(stack, await enroll(stack.assessment), t0)
        out[name] = (chart, await archetype(chart))
    return out
