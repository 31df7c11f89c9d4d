"""The Bulk Data export's pure parts: which resources a request wants, their NDJSON, the manifest."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .bundle import RESOURCE_TYPES
from .common import Resource

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = (NDJSON, "application/ndjson", "ndjson")
EXPORT_TYPES = (*RESOURCE_TYPES, "MeasureReport")
"""What an export can write: the patients' resources and the clinics' quality measures."""
UNDATED = ("Organization", "MeasureReport")
"""Written whatever ``_since`` says: the clinics, and the measures computed for the run."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """``_type`` (empty: every type) and ``_since`` of a kick-off request."""

    types: tuple[str, ...] = ()
    since: datetime | None = None

    def wants(self, resource_type: str) -> bool:
        return not self.types or resource_type in self.types

    def keeps(self, resource: Resource) -> bool:
        if not self.wants(resource["resourceType"]):
            return False
        if self.since is None or resource["resourceType"] in UNDATED:
            return True
        updated = resource.get("meta", {}).get("lastUpdated")
        return updated is None or datetime.fromisoformat(updated) > self.since


def unknown_types(types: Iterable[str]) -> list[str]:
    return [t for t in types if t not in EXPORT_TYPES]


def ndjson_by_type(resources: Iterable[Resource], wanted: Wanted) -> dict[str, tuple[int, str]]:
    """Per resource type: how many resources and their NDJSON lines (one compact object a line)."""
    lines: dict[str, list[str]] = defaultdict(list)
    for r in resources:
        if wanted.keeps(r):
            lines[r["resourceType"]].append(json.dumps(r, separators=(",", ":"), ensure_ascii=False))
    return {t: (len(v), "".join(line + "\n" for line in v)) for t, v in lines.items()}


def manifest(transaction_time: datetime, request_url: str, counts: dict[str, int], file_url: str
             ) -> dict[str, Any]:
    """The completed export's manifest: one file per resource type (in the Bundle's order, the
    measures last), ``file_url`` a format string with ``{type}``."""
    order = {t: n for n, t in enumerate(EXPORT_TYPES)}
    output = [{"type": t, "url": file_url.format(type=t), "count": counts[t]}
              for t in sorted(counts, key=lambda t: order.get(t, len(order)))]
    return {"transactionTime": transaction_time.isoformat(), "request": request_url, "requiresAccessToken": True,
            "output": output, "error": []}


def split_codes(values: Sequence[str] | None) -> tuple[str, ...]:
    """``?_type=A,B`` and ``?_type=A&_type=B`` alike, each once."""
    return tuple(dict.fromkeys(v.strip() for value in values or () for v in value.split(",") if v.strip()))
