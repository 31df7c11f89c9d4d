"""Folding stored history: a stream ``decide`` could never have written is refused loudly,
and the episode views clients read follow the state."""

from __future__ import annotations

import pytest

from services.therapy.domain import (
    DECIDER,
    InconsistentHistory,
    NotStarted,
    SessionMissed,
    evolve,
    replay,
)
from services.therapy.handlers import episode_view
from shared.events import DomainEvent

from .builders import (
    EPISODE,
    IDS,
    PATIENT,
    SESSION,
    T0,
    WEEK,
    cancel,
    change_step,
    complete,
    end,
    run,
    schedule,
    scheduled,
    start,
    started,
)


class Foreign(DomainEvent):
    event_name = "Foreign"


@pytest.mark.parametrize("history", [
    [scheduled()],  # a session before the start
    [started(), started()],  # two starts
    [started(), SessionMissed(**IDS, session_id=SESSION, occurred_at=T0)],  # an outcome of no session
    [started(), Foreign(occurred_at=T0)],
])
def test_impossible_history_is_not_folded(history: list[DomainEvent]) -> None:
    with pytest.raises(InconsistentHistory):
        replay(history)


def test_the_decider_folds_like_replay() -> None:
    _, events = run(start(), schedule(), complete(), change_step())
    assert DECIDER.fold(events) == replay(events)
    assert DECIDER.initial == NotStarted() and DECIDER.evolve is evolve


def test_views_count_sessions_by_outcome_and_list_them_in_calendar_order() -> None:
    state, _ = run(start(), schedule(session_id="b", scheduled_at=T0 + 2 * WEEK), schedule(session_id="a"),
                   schedule(session_id="c", scheduled_at=T0 + 3 * WEEK), complete(session_id="a"),
                   cancel(session_id="b", by="clinic"), change_step(), end())
    view = episode_view(state, 8, detail=True)
    assert (view["status"], view["end_reason"], view["care_step"], view["version"]) == ("ended", "remission", 3, 8)
    assert (view["episode_id"], view["patient_id"]) == (EPISODE, PATIENT)
    assert view["session_counts"] == {"scheduled": 1, "completed": 1, "missed": 0, "cancelled": 1}
    assert [(s["session_id"], s["status"]) for s in view["sessions"]] == [
        ("a", "completed"), ("b", "cancelled"), ("c", "scheduled")]
    assert view["sessions"][0]["techniques"] == ["thought_record"]
    assert view["sessions"][1]["cancelled_by"] == "clinic"
    assert "sessions" not in episode_view(state, 8)
