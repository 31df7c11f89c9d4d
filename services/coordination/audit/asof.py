"""What coordination knew about a patient at a moment T: pure, from timeline rows.

Knowledge time is ``recorded_at``: the caller passes the timeline entries recorded by T (in
any order) and gets the summary folded from them and the flags the rules engine finds in them
as of T. The projection's own fold (``projection/fold.py``) and the engine are reused, so the
summary as of a moment after the last event is the live one, and flags as of T are what the
live evaluation would have given had it run at T with what it then knew. Thresholds are the
ones in force now (each flag's ``rule_version`` names them); acknowledgements count from
their own time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from services.coordination.domain import CarePlanEvent
from services.coordination.flagging.history import history_event
from services.coordination.flagging.model import Acknowledgement, Status, StoredFlag, plain_thresholds, rank
from services.coordination.projection.facts import OWN_SERVICE, Body, Fact
from services.coordination.projection.fold import fold
from services.coordination.projection.inputs import READERS, OtherEvent
from services.coordination.projection.state import PatientSummary, empty
from services.coordination.rules import ClinicRules, Flag, evaluate
from shared.envelope import EventRegistry, event_type

Row = Mapping[str, Any]
"""A timeline row: event_id, patient_id, clinic_id, occurred_at, recorded_at, service, type,
stream_id, sequence, data."""


def _data(row: Row) -> dict[str, Any]:
    data = row["data"]
    return dict(json.loads(data) if isinstance(data, str) else data)


def entry_body(row: Row, own: EventRegistry) -> Body:
    """The body the projection read from the event, again from the entry's coded data (which
    holds every field the readers keep; the two it lifts into columns are put back)."""
    service, name = row["service"], row["type"]
    type_ = event_type(service, name, 1)
    if service == OWN_SERVICE and own.knows(type_):
        model = own.model_for(type_)  # the data was dumped from the current model already
        body = model.model_validate({**_data(row), "patient_id": row["patient_id"],
                                     "occurred_at": row["occurred_at"]})
        return cast(CarePlanEvent, body)
    return READERS.get((service, name), OtherEvent).model_validate(_data(row))


def entry_fact(row: Row, own: EventRegistry) -> Fact:
    event_id = row["event_id"]
    return Fact(event_id=event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(str(event_id)),
                patient_id=row["patient_id"], clinic_id=row["clinic_id"], service=row["service"],
                event_name=row["type"], stream_id=row["stream_id"], sequence=row["sequence"],
                occurred_at=row["occurred_at"], recorded_at=row["recorded_at"], body=entry_body(row, own))


def arrival_order(row: Row) -> tuple[datetime, str, str, int]:
    """The order the projection met them in, near enough: the fold keeps every part that
    several streams touch sorted or as a maximum, so only each stream's order matters, and
    within a stream recorded_at follows the sequence."""
    return (row["recorded_at"], row["service"], row["stream_id"], row["sequence"])


def summary_as_of(rows: Iterable[Row], patient_id: str, clinic_id: str, own: EventRegistry) -> PatientSummary:
    """The summary folded from ``rows`` (the entries recorded by the moment), as the projection
    would have stored it then; an empty one when nothing was recorded yet."""
    summary = empty(patient_id, clinic_id)
    for row in sorted(rows, key=arrival_order):
        summary = fold(summary, entry_fact(row, own))
    return summary


def flags_as_of(rows: Iterable[Row], as_of: datetime, rules: ClinicRules, patient_id: str, clinic_id: str,
                acks: Mapping[str, Acknowledgement]) -> list[StoredFlag]:
    """Every flag of the patient as it stood at ``as_of`` (open, acknowledged or resolved by
    then), oldest raised first. ``acks``: the patient's acknowledgements by flag id; only those
    made by ``as_of`` count."""
    history = [history_event(row) for row in rows]
    found = evaluate(history, as_of, rules, patient_id=patient_id)
    known = {fid: a for fid, a in acks.items() if a.acknowledged_at <= as_of}
    return [stored_as_of(f, clinic_id, known.get(f.flag_id)) for f in found]


def stored_as_of(f: Flag, clinic_id: str, ack: Acknowledgement | None) -> StoredFlag:
    status: Status = "resolved" if f.resolved_at is not None else "acknowledged" if ack is not None else "open"
    return StoredFlag(flag_id=f.flag_id, rule_id=f.rule_id, rule_version=f.rule_version, patient_id=f.patient_id,
                      clinic_id=clinic_id, severity=f.severity, status=status, raised_at=f.raised_at,
                      resolved_at=f.resolved_at, thresholds=plain_thresholds(f), evidence=f.evidence,
                      explanation=f.explanation, acknowledgement=ack)


def open_first(flags: Sequence[StoredFlag]) -> list[StoredFlag]:
    """The unresolved ones, as the live summary lists them: most severe, then oldest raised."""
    return sorted((f for f in flags if f.unresolved), key=lambda f: (-rank(f.severity), f.raised_at, f.flag_id))
