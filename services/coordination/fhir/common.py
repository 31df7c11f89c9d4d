"""What every exported resource shares: its shell (type, id, meta) and its patient reference."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .codes import instant, ref
from .record import Source

Resource = dict[str, Any]


def shell(resource_type: str, resource_id: str, sources: Iterable[Source], *, also: Iterable[datetime] = ()
          ) -> Resource:
    """``resourceType``, ``id`` and ``meta.lastUpdated``: when the last of its sources was recorded
    (a moment of the record, not of the export, so the same record gives the same resource)."""
    moments = [s.fact.recorded_at for s in sources] + list(also)
    out: Resource = {"resourceType": resource_type, "id": resource_id}
    if moments:
        out["meta"] = {"lastUpdated": instant(max(moments))}
    return out


def patient_ref(patient_id: str) -> dict[str, str]:
    return ref("Patient", patient_id)


def period(start: datetime | None, end: datetime | None) -> dict[str, str]:
    return ({"start": instant(start)} if start else {}) | ({"end": instant(end)} if end else {})
