"""The registry's read fetches of each event's payload only the fields the care record reads
(``record.PAYLOAD_FIELDS``): the records from those fields equal the records from whole payloads."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from services.coordination.registry.inputs import HISTORIES, READ_TYPES
from services.coordination.registry.record import PAYLOAD_FIELDS, care_record
from services.coordination.rules import HistoryEvent
from tests.bench.measures import AS_OF, clinic_histories, coded


def projected(e: HistoryEvent) -> HistoryEvent:
    fields = PAYLOAD_FIELDS.get(e.event_name, ())
    return dataclasses.replace(e, payload={k: e.payload.get(k) for k in fields})


def discharge(events: list[HistoryEvent]) -> HistoryEvent:
    at = max(e.occurred_at for e in events) + timedelta(days=1)
    return HistoryEvent(f"{events[0].event_id}-d", "coordination", "CaseConferenceHeld", at, at,
                        events[0].stream_id, {"decisions": ["continue_plan", "discharge"]})


def test_the_fields_read_make_the_same_records_as_whole_payloads() -> None:
    discharged = 0
    for n, (pid, events) in enumerate(clinic_histories(300, seed=5)):
        whole = [dataclasses.replace(e, payload=coded(e)) for e in events]
        if n % 3 == 0:
            whole.append(discharge(whole))
        record = care_record(pid, "clinic-a", whole, AS_OF)
        assert care_record(pid, "clinic-a", [projected(e) for e in whole], AS_OF) == record
        discharged += record is not None and record.discharged_at is not None
    assert discharged == 100


def test_every_event_with_fields_read_is_fetched() -> None:
    assert set(PAYLOAD_FIELDS) <= set(READ_TYPES)
    assert all(f"t.data->'{k}'" in HISTORIES for fields in PAYLOAD_FIELDS.values() for k in fields)
