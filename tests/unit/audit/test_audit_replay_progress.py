"""The replay's progress line: events, rate and ETA."""

from __future__ import annotations

from services.coordination.replay.progress import line


def test_the_line_names_events_rate_and_eta() -> None:
    assert line("replay", 50_000, 100_000, 2.5) == "replay: 50,000 / 100,000 events · 20,000 ev/s · ETA 2 s"


def test_without_a_total_or_a_rate_there_is_no_eta() -> None:
    assert line("replay", 1_200, None, 2.0) == "replay: 1,200 events · 600 ev/s"
    assert line("replay", 0, 10, 0.0) == "replay: 0 / 10 events · 0 ev/s"
