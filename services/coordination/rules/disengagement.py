"""Disengagement: a patient drifting away from an open therapy episode.

Two triggers, one flag per stretch between completed sessions (the stretch starts at the
episode's start or at the last completed session, which names the flag):
- the ``missed_in_a_row``-th consecutive missed session (a cancellation by the patient counts as
  missed; one by the clinic neither counts nor breaks the run), raised at that session;
- no completed session for ``days_without_session`` days while the episode is open, raised
  at the stretch's start + that many days.
Whichever comes first raises it; the next completed session or the episode's end resolves it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .facts import EpisodeEnded, PatientFacts, SessionOutcome
from .flags import FlagState
from .text import day

RULE_ID = "disengagement"
VERSION = 1
DESCRIPTION = "`missed_in_a_row` missed sessions in a row, or no completed session for `days_without_session` days"


@dataclass(frozen=True, slots=True)
class Thresholds:
    missed_in_a_row: int
    days_without_session: int

    def check(self) -> str | None:
        if self.missed_in_a_row < 1 or self.days_without_session < 1:
            return "missed_in_a_row and days_without_session must be at least 1"
        return None


def _gap(episode: str, anchor: tuple[datetime, str], th: Thresholds) -> FlagState:
    deadline = anchor[0] + timedelta(days=th.days_without_session)
    return FlagState(
        key=(episode, anchor[1]), severity="warning", raised_at=deadline, evidence=(anchor[1],),
        explanation=(f"no completed session for {th.days_without_session} days since {day(anchor[0])} "
                     "in an open therapy episode"))


def _episode(episode: str, start: tuple[datetime, str], sessions: list[SessionOutcome], end: EpisodeEnded | None,
             as_of: datetime, th: Thresholds) -> list[FlagState]:
    flags: list[FlagState] = []
    anchor = start
    run: list[str] = []  # session ids of the current run of misses
    run_ids: list[str] = []  # their event ids
    current: FlagState | None = None
    window = timedelta(days=th.days_without_session)

    def gap_due(before: datetime, completes: bool) -> bool:
        deadline = anchor[0] + window
        open_then = end is None or end.at > deadline
        return current is None and open_then and (deadline < before or (deadline == before and not completes))

    for s in sessions:
        if gap_due(s.at, s.outcome == "completed"):
            current = _gap(episode, anchor, th)
        if s.outcome == "completed":
            if current is not None:
                flags.append(replace(current, resolved_at=s.at, resolved_by=s.event_id))
            anchor, run, run_ids, current = (s.at, s.event_id), [], [], None
        elif s.outcome in ("missed", "cancelled_by_patient") and s.session_id not in run:
            run.append(s.session_id)
            run_ids.append(s.event_id)
            if current is None and len(run) >= th.missed_in_a_row:
                current = FlagState(
                    key=(episode, anchor[1]), severity="warning", raised_at=s.at, evidence=(anchor[1], *run_ids),
                    explanation=f"{len(run)} sessions missed in a row by {day(s.at)} (threshold {th.missed_in_a_row})")
    if gap_due(as_of, False):
        current = _gap(episode, anchor, th)
    if current is not None:
        flags.append(replace(current, resolved_at=end.at, resolved_by=end.event_id) if end else current)
    return flags


def evaluate(facts: PatientFacts, as_of: datetime, th: Thresholds) -> list[FlagState]:
    starts: dict[str, tuple[datetime, str]] = {}
    for e in facts.episodes:
        starts.setdefault(e.episode_id, (e.at, e.event_id))
    ends: dict[str, EpisodeEnded] = {}
    for x in facts.episode_ends:
        ends.setdefault(x.episode_id, x)
    sessions: dict[str, list[SessionOutcome]] = defaultdict(list)
    for s in facts.sessions:
        end = ends.get(s.episode_id)
        start = starts.get(s.episode_id)
        if start is not None and s.at >= start[0] and (end is None or s.at <= end.at):
            sessions[s.episode_id].append(s)
    flags: list[FlagState] = []
    for episode, start in starts.items():
        flags += _episode(episode, start, sessions[episode], ends.get(episode), as_of, th)
    return flags
