"""The clinic worklist: a keyset page of flags, most severe first, then the oldest raised.

Like the timeline's, the cursor names the last flag seen, (severity rank, raised_at, flag id),
opaque to clients (base64url of the three) and checked on read; flags raised or resolved while
a client pages neither shift nor repeat what the next page shows.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, and_, any_, bindparam, or_, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY

from services.coordination.tables import flags as t

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
UNRESOLVED = ("open", "acknowledged")


class BadCursor(ValueError):
    """The cursor was not made by this service."""


@dataclass(frozen=True)
class WorklistCursor:
    rank: int
    raised_at: datetime
    flag_id: str

    def encode(self) -> str:
        raw = json.dumps([self.rank, self.raised_at.isoformat(), self.flag_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> WorklistCursor:
        try:
            rank, raised, flag_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor = cls(int(rank), datetime.fromisoformat(raised), str(flag_id))
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise BadCursor("not a cursor this service gave out") from exc
        if cursor.raised_at.utcoffset() is None:
            raise BadCursor("not a cursor this service gave out")
        return cursor


@dataclass(frozen=True)
class WorklistPage:
    clinics: tuple[str, ...]  # the caller's clinics (or the one asked for among them)
    statuses: tuple[str, ...] = UNRESOLVED
    severities: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    after: WorklistCursor | None = None
    limit: int = DEFAULT_LIMIT


def _any(column: Any, name: str, values: tuple[str, ...]) -> Any:
    return column == any_(bindparam(name, list(values), type_=ARRAY(Text)))


def worklist_query(page: WorklistPage) -> Select[Any]:
    """One more row than the limit: its presence says whether a next page exists."""
    q = select(t).where(_any(t.c.clinic_id, "clinics", page.clinics))
    if page.statuses:
        q = q.where(_any(t.c.status, "statuses", page.statuses))
    if page.severities:
        q = q.where(_any(t.c.severity, "severities", page.severities))
    if page.rules:
        q = q.where(_any(t.c.rule_id, "rules", page.rules))
    if page.after is not None:
        c = page.after
        rank = bindparam("after_rank", c.rank, type_=t.c.severity_rank.type)
        later = tuple_(t.c.raised_at, t.c.flag_id) > tuple_(
            bindparam("after_raised", c.raised_at, type_=t.c.raised_at.type),
            bindparam("after_flag", c.flag_id, type_=t.c.flag_id.type))
        q = q.where(or_(t.c.severity_rank < rank, and_(t.c.severity_rank == rank, later)))
    return q.order_by(t.c.severity_rank.desc(), t.c.raised_at, t.c.flag_id).limit(page.limit + 1)


def next_cursor(rows: list[Any], limit: int) -> str | None:
    """The cursor after the last of ``limit`` rows, when a further row exists."""
    if len(rows) <= limit or limit == 0:
        return None
    last = rows[limit - 1]
    return WorklistCursor(last["severity_rank"], last["raised_at"], last["flag_id"]).encode()
