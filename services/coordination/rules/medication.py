"""Which drugs are active when, for the medication rules.

"Active at t" = started at or before t and not stopped at or before t. All changes at one
instant are applied together before anything is counted, so a drug switched at a single
moment (one stopped, one started) never counts twice, and a course started and stopped at
the same moment never counts at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from .facts import CourseStarted, CourseStopped, DrugKey, PatientFacts


@dataclass(frozen=True, slots=True)
class Instant:
    at: datetime
    active: Mapping[DrugKey, tuple[CourseStarted, ...]]  # the active courses of each active drug
    started: tuple[CourseStarted, ...]  # courses started at this instant, in event order
    stopped: tuple[tuple[DrugKey, str], ...]  # (drug, stop event id) of the stops taking effect now


def drug_instants(facts: PatientFacts) -> Iterator[Instant]:
    """Every instant at which a course starts or stops, with the active drugs just after it."""
    first_start: dict[str, CourseStarted] = {}
    rank: dict[str, int] = {}  # position in event order (occurred, recorded, id) breaks ties
    for position, course in enumerate(facts.courses):
        first_start.setdefault(course.course_id, course)
        rank.setdefault(course.event_id, position)
    first_stop: dict[str, CourseStopped] = {}
    for stop in facts.stops:
        first_stop.setdefault(stop.course_id, stop)
    # (time, 0 = stop / 1 = start, course): a course whose stop is not after its start is never active.
    changes: list[tuple[datetime, int, CourseStarted]] = []
    for course_id, course in first_start.items():
        ends = first_stop.get(course_id)
        if ends is not None and ends.at <= course.at:
            continue
        changes.append((course.at, 1, course))
        if ends is not None:
            changes.append((ends.at, 0, course))
    changes.sort(key=lambda c: (c[0], c[1], rank[c[2].event_id]))
    active: dict[DrugKey, dict[str, CourseStarted]] = {}
    for at, group in groupby(changes, key=lambda c: c[0]):
        started: list[CourseStarted] = []
        stopped: list[tuple[DrugKey, str]] = []
        for _, kind, course in group:
            if kind == 1:
                active.setdefault(course.drug, {})[course.course_id] = course
                started.append(course)
            else:
                stopped.append((course.drug, first_stop[course.course_id].event_id))
                courses = active[course.drug]
                del courses[course.course_id]
                if not courses:
                    del active[course.drug]
        yield Instant(at, {drug: tuple(c.values()) for drug, c in active.items()}, tuple(started), tuple(stopped))
