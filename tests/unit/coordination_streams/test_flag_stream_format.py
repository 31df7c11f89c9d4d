"""The flag stream's final horizon (which change ids may be sent) and its wire format, read
back by the example dashboard's parser."""

from __future__ import annotations

from examples.dashboard_sse import SseParser
from services.coordination.streams import HEARTBEAT, MAX_PENDING, Horizon, sse_event, sse_opening


def parse(text: str, parser: SseParser | None = None) -> tuple[list[tuple[str | None, str, str]], SseParser]:
    parser = parser or SseParser()
    events = [(e.id, e.event, e.data) for line in text.split("\n")[:-1] if (e := parser.feed(line))]
    return events, parser


def test_with_nobody_writing_every_id_drawn_is_final() -> None:
    horizon = Horizon()
    assert horizon.observe(7, frozenset()) == 7
    assert horizon.observe(9, frozenset()) == 9


def test_ids_drawn_while_someone_writes_are_final_once_those_writers_ended() -> None:
    horizon = Horizon()
    assert horizon.observe(5, frozenset({"3/10"})) == 0
    # 3/10 still writes; 4/2 started: neither observation is settled.
    assert horizon.observe(8, frozenset({"3/10", "4/2"})) == 0
    # 3/10 ended: ids up to 5 are final; up to 8 waits for 4/2, and 12 for 4/2 and 5/1.
    assert horizon.observe(12, frozenset({"4/2", "5/1"})) == 5
    assert horizon.observe(12, frozenset({"5/1"})) == 8
    assert horizon.observe(15, frozenset()) == 15


def test_a_writer_that_comes_back_under_the_same_backend_is_a_new_transaction() -> None:
    horizon = Horizon()
    horizon.observe(5, frozenset({"3/10"}))
    assert horizon.observe(6, frozenset({"3/11"})) == 5  # 3/10 ended; 3/11 is another transaction


def test_the_horizon_never_goes_back() -> None:
    horizon = Horizon()
    horizon.observe(10, frozenset())
    assert horizon.observe(4, frozenset()) == 10


def test_a_very_long_writer_keeps_the_pending_observations_bounded_and_holds_them_back() -> None:
    horizon = Horizon()
    for drawn in range(1, 3 * MAX_PENDING):
        assert horizon.observe(drawn, frozenset({"1/1", f"2/{drawn}"})) == 0
    assert len(horizon.pending) <= MAX_PENDING
    assert horizon.observe(500, frozenset({"9/9"})) == 3 * MAX_PENDING - 1


def test_a_change_reads_back_as_one_event_with_its_id_type_and_data() -> None:
    text = sse_event(42, "raised", '{"flag_id": "f-1"}') + sse_event(43, "resolved", '{"a": 1}')
    events, parser = parse(text)
    assert events == [("42", "raised", '{"flag_id": "f-1"}'), ("43", "resolved", '{"a": 1}')]
    assert parser.last_event_id == "43"


def test_data_with_a_line_break_stays_one_event() -> None:
    events, _ = parse(sse_event(1, "raised", "line one\nline two"))
    assert events == [("1", "raised", "line one\nline two")]


def test_the_opening_sets_position_and_retry_without_an_event_and_heartbeats_are_comments() -> None:
    events, parser = parse(sse_opening(17, 2500) + HEARTBEAT + HEARTBEAT)
    assert events == []
    assert parser.last_event_id == "17" and parser.retry_ms == 2500


def test_a_block_cut_off_before_its_blank_line_does_not_move_the_position() -> None:
    _, parser = parse(sse_event(5, "raised", "{}"))
    parser.feed("id: 6")
    parser.feed("event: raised")
    assert parser.last_event_id == "5"
