"""The timeline query: optional filters compose, the keyset cursor is opaque and checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.coordination.sql import compiled
from services.coordination.timeline_query import BadCursor, Cursor, TimelinePage, page_of, timeline_query

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_cursor_reads_back_as_it_was_written() -> None:
    cursor = Cursor(T, T + timedelta(seconds=1.5), uuid.uuid4())
    text = cursor.encode()
    assert Cursor.decode(text) == cursor
    assert "=" not in text and str(cursor.event_id) not in text  # opaque, URL-safe


@pytest.mark.parametrize("text", ["", "abc", "!!!", Cursor(T, T, uuid.uuid4()).encode()[:-3],
                                  "WyJ4IiwieSIsInoiXQ", "WzEsMiwzXQ"])
def test_a_cursor_not_made_here_is_refused(text: str) -> None:
    with pytest.raises(BadCursor):
        Cursor.decode(text)


def test_only_the_filters_given_reach_the_sql() -> None:
    bare, args = compiled(timeline_query(TimelinePage("p1")))
    assert "ANY" not in bare and ">=" not in bare and args == ["p1", 101]
    assert "ORDER BY timeline_entries.occurred_at, timeline_entries.recorded_at, timeline_entries.event_id" in bare
    cursor = Cursor(T, T, uuid.uuid4())
    full, args = compiled(timeline_query(TimelinePage(
        "p1", types=("DoseAdjusted",), services=("pharmacy", "therapy"), occurred_from=T,
        occurred_to=T + timedelta(days=1), after=cursor, limit=10)))
    assert full.count("ANY") == 2 and "(timeline_entries.occurred_at, timeline_entries.recorded_at, " \
        "timeline_entries.event_id) >" in full
    assert args == ["p1", ["DoseAdjusted"], ["pharmacy", "therapy"], T, T + timedelta(days=1), T, T,
                    cursor.event_id, 11]


def test_a_page_has_a_next_cursor_only_when_more_rows_exist() -> None:
    rows = [{"occurred_at": T + timedelta(hours=n), "recorded_at": T, "event_id": uuid.uuid4()} for n in range(3)]
    more = page_of(rows, 2)
    assert more["entries"] == rows[:2]
    assert Cursor.decode(more["next_cursor"]) == Cursor(rows[1]["occurred_at"], T, rows[1]["event_id"])
    assert page_of(rows, 3)["next_cursor"] is None
    assert page_of([], 5) == {"entries": [], "next_cursor": None}
