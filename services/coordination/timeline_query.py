"""The timeline read: a keyset page over (occurred_at, recorded_at, event_id).

The cursor names the last entry a client has seen, not an offset, so entries that arrive
later — even backdated ones that sort before the cursor — neither shift nor repeat what the
next page shows. It is opaque to clients (base64url of the three keys) and checked on read.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, any_, bindparam, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY

from services.coordination.tables import timeline_entries as t

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class BadCursor(ValueError):
    """The cursor was not made by this service."""


@dataclass(frozen=True)
class Cursor:
    occurred_at: datetime
    recorded_at: datetime
    event_id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps([self.occurred_at.isoformat(), self.recorded_at.isoformat(), str(self.event_id)],
                         separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            occurred, recorded, event_id = json.loads(raw)
            cursor = cls(datetime.fromisoformat(occurred), datetime.fromisoformat(recorded), uuid.UUID(event_id))
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise BadCursor("not a cursor this service gave out") from exc
        if cursor.occurred_at.utcoffset() is None or cursor.recorded_at.utcoffset() is None:
            raise BadCursor("not a cursor this service gave out")
        return cursor


@dataclass(frozen=True)
class TimelinePage:
    """What to read: one patient's entries, optionally filtered, after a cursor."""

    patient_id: str
    types: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    occurred_from: datetime | None = None  # inclusive
    occurred_to: datetime | None = None  # exclusive
    after: Cursor | None = None
    limit: int = DEFAULT_LIMIT
    recorded_by: datetime | None = None  # as of this moment: only what had been recorded (inclusive)


COLUMNS = (t.c.event_id, t.c.occurred_at, t.c.recorded_at, t.c.service, t.c.type, t.c.stream_id,
           t.c.sequence, t.c.summary, t.c.data)


def timeline_query(page: TimelinePage) -> Select[Any]:
    """One more row than the limit: its presence says whether a next page exists."""
    q = select(*COLUMNS).where(t.c.patient_id == page.patient_id)
    if page.types:
        q = q.where(t.c.type == any_(bindparam("types", list(page.types), type_=ARRAY(Text))))
    if page.services:
        q = q.where(t.c.service == any_(bindparam("services", list(page.services), type_=ARRAY(Text))))
    if page.occurred_from is not None:
        q = q.where(t.c.occurred_at >= page.occurred_from)
    if page.occurred_to is not None:
        q = q.where(t.c.occurred_at < page.occurred_to)
    if page.recorded_by is not None:
        q = q.where(t.c.recorded_at <= page.recorded_by)
    if page.after is not None:
        c = page.after
        q = q.where(tuple_(t.c.occurred_at, t.c.recorded_at, t.c.event_id) > tuple_(
            bindparam("after_occurred", c.occurred_at, type_=t.c.occurred_at.type),
            bindparam("after_recorded", c.recorded_at, type_=t.c.recorded_at.type),
            bindparam("after_event", c.event_id, type_=t.c.event_id.type)))
    return q.order_by(t.c.occurred_at, t.c.recorded_at, t.c.event_id).limit(page.limit + 1)


def page_of(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """``{"entries", "next_cursor"}`` from up to ``limit + 1`` rows in timeline order."""
    entries = rows[:limit]
    more = len(rows) > limit
    last = entries[-1] if entries else None
    cursor = Cursor(last["occurred_at"], last["recorded_at"], last["event_id"]).encode() if more and last else None
    return {"entries": entries, "next_cursor": cursor}
