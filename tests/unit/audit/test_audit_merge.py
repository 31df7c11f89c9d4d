"""The merged access log: every answer's rows by time, the silent services named."""

from __future__ import annotations

from typing import Any

from services.coordination.audit.access import merge


def row(service: str, row_id: int, at: str) -> dict[str, Any]:
    return {"service": service, "id": row_id, "at": at, "patient_id": "p-1", "outcome": "allowed"}


def test_rows_of_every_service_come_by_time_and_a_silent_service_is_named() -> None:
    merged = merge([
        ("coordination", {"entries": [row("coordination", 1, "2026-05-01T10:00:02+00:00")]}),
        ("assessment", {"entries": [row("assessment", 7, "2026-05-01T10:00:01+00:00"),
                                    row("assessment", 8, "2026-05-01T12:00:03+02:00")]}),
        ("therapy", None),
        ("pharmacy", {"entries": []}),
    ], limit=10)
    assert [(e["service"], e["id"]) for e in merged["entries"]] == [
        ("assessment", 7), ("coordination", 1), ("assessment", 8)]  # 12:00:03+02:00 is 10:00:03 UTC
    assert merged["services"] == ["assessment", "coordination", "pharmacy"]
    assert merged["unavailable"] == ["therapy"]
    assert merged["truncated"] is False


def test_the_limit_holds_across_services_and_says_so() -> None:
    merged = merge([("a", {"entries": [row("a", k, f"2026-05-01T10:00:0{k}+00:00") for k in range(3)]}),
                    ("b", {"entries": [row("b", 1, "2026-05-01T10:00:00.5+00:00")], "truncated": False})], limit=2)
    assert [(e["service"], e["id"]) for e in merged["entries"]] == [("a", 0), ("b", 1)]
    assert merged["truncated"] is True
