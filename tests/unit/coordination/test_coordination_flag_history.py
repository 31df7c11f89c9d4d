"""The rules read their history from the timeline: the timeline's coded ``data`` gives the same
flags as the producers' whole payloads, for every rule (so no copy of the payloads is kept);
and a history fed event by event, reconciled each time, ends with the flags one evaluation of
the whole history gives (what a replay builds)."""

from __future__ import annotations

import json
import random

from services.coordination.flagging.history import history_event
from services.coordination.flagging.model import StoredFlag
from services.coordination.flagging.reconcile import reconcile
from services.coordination.handlers import registry
from services.coordination.projection.batch import TimelineRow, project
from services.coordination.projection.facts import read
from services.coordination.rules import RULES, HistoryEvent, evaluate, load_config
from shared.envelope import Envelope

from .builders import PATIENT, day
from .flag_histories import every_rule

CONFIG = load_config().for_clinic("clinic-a")
AS_OF = day(120)


def timeline_rows(events: list[Envelope]) -> list[TimelineRow]:
    rows, _ = project({}, [read(env, registry()) for env in events])
    return rows


def from_timeline(events: list[Envelope]) -> list[HistoryEvent]:
    """As ``flagging.history`` reads them back from ``timeline_entries`` (data as stored JSON)."""
    return [history_event({"event_id": r.event_id, "service": r.service, "type": r.type,
                           "occurred_at": r.occurred_at, "recorded_at": r.recorded_at, "stream_id": r.stream_id,
                           "data": json.dumps(r.data)}) for r in timeline_rows(events)]


def test_the_timeline_gives_the_flags_the_payloads_give_for_every_rule() -> None:
    events = every_rule().events
    whole = evaluate([HistoryEvent.from_envelope(e) for e in events], AS_OF, CONFIG)
    assert {f.rule_id for f in whole} == {r.rule_id for r in RULES}, "the history must raise every rule"
    assert evaluate(from_timeline(events), AS_OF, CONFIG, patient_id=PATIENT) == whole
    for moment in (day(10), day(20), day(58), day(75)):  # and at every stage, open flags and all
        assert evaluate(from_timeline(events), moment, CONFIG, patient_id=PATIENT) == evaluate(
            [HistoryEvent.from_envelope(e) for e in events], moment, CONFIG)


def test_no_free_text_reaches_the_rules_history() -> None:
    text = repr([h.payload for h in from_timeline(every_rule().events)])
    for words in ("Müller", "Erika", "nausea", "back pain", "no longer needed"):
        assert words not in text


def _live(events: list[Envelope], arrival: list[int]) -> dict[str, StoredFlag]:
    """Events arriving one at a time (each recorded when it arrives), reconciled each time as
    the projection does."""
    stored: dict[str, StoredFlag] = {}
    history: list[HistoryEvent] = []
    for i in arrival:
        history.append(HistoryEvent.from_envelope(events[i]))
        result = reconcile(stored, evaluate(history, AS_OF, CONFIG), "clinic-a",
                           withdrawn_at=events[i].time)
        stored |= {f.flag_id: f for f in result.writes}
    return stored


def test_live_one_by_one_in_any_order_ends_where_one_evaluation_of_everything_does() -> None:
    events = every_rule().events
    replay = reconcile({}, evaluate([HistoryEvent.from_envelope(e) for e in events], AS_OF, CONFIG), "clinic-a")
    expected = {f.flag_id: f for f in replay.writes}
    assert _live(events, list(range(len(events)))) == expected  # in clinical order: nothing to withdraw
    rng = random.Random(7)
    withdrawn = 0
    for _ in range(5):
        order = list(range(len(events)))
        rng.shuffle(order)  # backdated arrivals: flags raised on what was known, then withdrawn
        live = _live(events, order)
        assert {fid: f for fid, f in live.items() if not f.withdrawn} == expected
        assert all(f.status == "resolved" and f.resolved_at is not None for f in live.values() if f.withdrawn)
        withdrawn += sum(f.withdrawn for f in live.values())
    assert withdrawn > 0, "shuffled arrival must withdraw some flag, or this test shows nothing"


def test_a_late_event_resolves_in_event_time() -> None:
    c = every_rule()
    found = evaluate([HistoryEvent.from_envelope(e) for e in c.events], AS_OF, CONFIG)
    times = {(f.rule_id, f.raised_at, f.resolved_at) for f in found}
    assert ("disengagement", day(21), day(25)) in times  # the second miss in a row, then a session
    assert ("rapid_titration", day(12), day(19)) in times  # the late second increase, then 7 quiet days
    assert ("stalled_escalation", day(74), None) in times
    assert ("unreviewed_adverse_effect", day(18), day(62)) in times
