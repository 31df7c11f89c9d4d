"""The rules' history of a patient, read from the timeline.

The timeline's ``data`` is the event's coded fields as coordination's readers parse them
(``projection/inputs.py``): every field the rules read is among them (drug code and formulary
snapshot, item scores and totals, life-change codes, session outcomes, care steps, due dates),
and no free text is. So the rules need no copy of the payloads; a unit test
(``test_coordination_flag_history``) shows that a history read from the timeline gives the same
flags as one read from the envelopes. Dead-lettered events are in neither: the live run and a
replay agree on them too.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from services.coordination.rules import HistoryEvent, facts_as_of
from services.coordination.rules.facts import PatientFacts
from shared.envelope import Envelope

FACTS = tuple(f.name for f in dataclasses.fields(PatientFacts) if f.name != "patient_id")

HISTORY = """
SELECT patient_id, event_id, service, type, occurred_at, recorded_at, stream_id, data
FROM timeline_entries WHERE patient_id = ANY($1::text[])
"""


def history_event(row: Mapping[str, Any]) -> HistoryEvent:
    data = row["data"]
    return HistoryEvent(event_id=str(row["event_id"]), service=row["service"], event_name=row["type"],
                        occurred_at=row["occurred_at"], recorded_at=row["recorded_at"], stream_id=row["stream_id"],
                        payload=json.loads(data) if isinstance(data, str) else data)


async def load_histories(conn: asyncpg.Connection, patient_ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
    """Every patient's whole timeline (the engine sorts it and keeps what was known as of its time)."""
    out: dict[str, list[HistoryEvent]] = defaultdict(list)
    for row in await conn.fetch(HISTORY, list(patient_ids)):
        out[row["patient_id"]].append(history_event(row))
    return out


def feeds_rules(env: Envelope) -> bool:
    """Whether the rules read anything from this event (the engine's own reading decides, so this
    follows it when a rule starts reading a new kind). An event they ignore (a session booked,
    preferences updated, an enrolment) changes no flag but by the passing of time, which the tick
    covers; a batch of only such events need not re-evaluate its patients."""
    try:
        event = HistoryEvent.from_envelope(env)
        facts = facts_as_of([event], max(event.occurred_at, event.recorded_at), env.subject)
    except ValueError:  # unreadable here: let the evaluation decide
        return True
    return any(getattr(facts, name) for name in FACTS)
