"""The caseload: one row per patient in care, pure, from the patient's record and a moment ``now``.

Sort orders put the patient who most needs attention first; the cursor carries the last row's
sort key (keyset), so a page boundary holds while rows change between requests.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from services.coordination.projection.view import change_percent

from .measures import ELEVATED, WEEK_8, improved
from .record import CareRecord, Reading

CONTACT_INTERVAL = timedelta(days=14)
"""A patient in active treatment is contacted at least every two weeks (the registry's default)."""

SEVERITIES = ("urgent", "high", "warning", "info")

Sort = Literal["next_contact_due", "days_since_contact", "weeks_in_treatment", "phq9_latest", "phq9_change",
               "case_review_due", "flags"]
SORTS: tuple[str, ...] = get_args(Sort)


def in_active_care(r: CareRecord) -> bool:
    return r.discharged_at is None


def case_review_due(r: CareRecord, now: datetime) -> bool:
    """A baseline PHQ-9 ≥ 10, 8 weeks or more in care, the latest PHQ-9 not improved, and no case
    conference since day 56."""
    baseline = r.baseline
    if baseline is None or baseline.total < ELEVATED or r.day(now) < WEEK_8:
        return False
    if improved(baseline.total, r.phq9[-1].total):
        return False
    return not any(r.day(t) >= WEEK_8 for t in r.conferences)


def _instrument(scores: tuple[Reading, ...]) -> dict[str, Any] | None:
    if not scores:
        return None
    first, last = scores[0], scores[-1]
    return {"baseline": {"total": first.total, "at": first.at}, "latest": {"total": last.total, "at": last.at},
            "change_percent": change_percent(first.total, last.total) if len(scores) > 1 else None}


def caseload_row(r: CareRecord, care_manager: str | None, open_flags: Mapping[str, int], now: datetime
                 ) -> dict[str, Any]:
    last = r.contacts[-1] if r.contacts else None
    due = (last or r.start) + CONTACT_INTERVAL
    return {
        "patient_id": r.patient_id, "clinic_id": r.clinic_id, "care_manager": care_manager,
        "care_started_at": r.start, "weeks_in_treatment": max(r.day(now), 0) // 7,
        "phq9": _instrument(r.phq9), "gad7": _instrument(r.gad7),
        "last_contact_at": last, "days_since_contact": (now - last).days if last else None,
        "next_contact_due": due, "contact_overdue": due < now,
        "case_review_due": case_review_due(r, now),
        "open_flags": {s: int(open_flags.get(s, 0)) for s in SEVERITIES},
    }


def _latest(row: Mapping[str, Any], name: str, part: str) -> float | None:
    inst = row[name]
    value = inst and (inst["latest"]["total"] if part == "total" else inst["change_percent"])
    return None if value is None else float(value)


def _desc(value: float | None) -> float:
    """Highest first, unknown last."""
    return math.inf if value is None else -value


KEYS: dict[str, Callable[[Mapping[str, Any]], tuple[float, ...]]] = {
    "next_contact_due": lambda r: (r["next_contact_due"].timestamp(),),
    "days_since_contact": lambda r: (_desc(r["days_since_contact"]),),
    "weeks_in_treatment": lambda r: (-r["weeks_in_treatment"],),
    "phq9_latest": lambda r: (_desc(_latest(r, "phq9", "total")),),
    "phq9_change": lambda r: (_desc(_latest(r, "phq9", "change")),),
    "case_review_due": lambda r: (0.0 if r["case_review_due"] else 1.0, -r["weeks_in_treatment"]),
    "flags": lambda r: tuple(-float(r["open_flags"][s]) for s in SEVERITIES),
}


def sort_key(sort: str, row: Mapping[str, Any]) -> tuple[tuple[float, ...], str]:
    return KEYS[sort](row), row["patient_id"]


class BadCursor(ValueError):
    pass


def encode_cursor(sort: str, key: tuple[tuple[float, ...], str]) -> str:
    values = [None if math.isinf(v) else v for v in key[0]]
    raw = json.dumps([sort, values, key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[tuple[float, ...], str]:
    try:
        found = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        name, values, patient = found
        key = tuple(math.inf if v is None else float(v) for v in values)
    except (ValueError, TypeError, binascii.Error):
        raise BadCursor("not a cursor of this list") from None
    if name != sort or not isinstance(patient, str) or len(key) != len(KEYS[sort]({**_PROBE})):
        raise BadCursor("the cursor belongs to another sort order")
    return key, patient


_PROBE: dict[str, Any] = {
    "next_contact_due": datetime.fromtimestamp(0).astimezone(), "days_since_contact": None, "weeks_in_treatment": 0,
    "phq9": None, "case_review_due": False, "open_flags": dict.fromkeys(SEVERITIES, 0), "patient_id": ""}


def page(rows: Sequence[dict[str, Any]], sort: str, limit: int, after: tuple[tuple[float, ...], str] | None
         ) -> tuple[list[dict[str, Any]], str | None]:
    """The rows after ``after`` in ``sort`` order, at most ``limit``, and the next page's cursor."""
    ordered = sorted(rows, key=lambda r: sort_key(sort, r))
    if after is not None:
        ordered = [r for r in ordered if sort_key(sort, r) > after]
    shown = ordered[:limit]
    more = len(ordered) > limit
    return shown, encode_cursor(sort, sort_key(sort, shown[-1])) if more and shown else None
