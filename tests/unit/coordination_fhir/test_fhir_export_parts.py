"""The Bulk Data export's pure parts: which resources a request keeps and the manifest."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.coordination.fhir.bundle import organization
from services.coordination.fhir.export import Wanted, manifest, ndjson_by_type, split_codes, unknown_types

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def res(kind: str, n: int, updated: str | None = "2026-03-02T10:00:00+01:00") -> dict[str, object]:
    return {"resourceType": kind, "id": f"{kind}-{n}"} | ({"meta": {"lastUpdated": updated}} if updated else {})


def test_type_and_since_filters() -> None:
    resources = [res("Observation", 1), res("Observation", 2, "2026-03-02T08:59:00Z"), res("Flag", 1),
                 organization("clinic-a")]
    out = ndjson_by_type(resources, Wanted(("Observation", "Organization"), since=T))
    # 10:00+01:00 is 09:00Z: not after T; the Organization has no time and is always kept
    assert {k: n for k, (n, _) in out.items()} == {"Organization": 1}
    out = ndjson_by_type(resources, Wanted())
    assert {k: n for k, (n, _) in out.items()} == {"Observation": 2, "Flag": 1, "Organization": 1}
    lines = out["Observation"][1].splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["Observation-1", "Observation-2"]
    assert out["Observation"][1].endswith("\n") and "\n " not in out["Observation"][1]


def test_manifest_lists_one_file_per_type_in_the_bundles_order() -> None:
    m = manifest(T, "http://x/v1/fhir/$export", {"Provenance": 3, "Patient": 1}, "http://x/jobs/1/{type}.ndjson")
    assert m == {"transactionTime": "2026-03-02T09:00:00+00:00", "request": "http://x/v1/fhir/$export",
                 "requiresAccessToken": True, "error": [],
                 "output": [{"type": "Patient", "url": "http://x/jobs/1/Patient.ndjson", "count": 1},
                            {"type": "Provenance", "url": "http://x/jobs/1/Provenance.ndjson", "count": 3}]}


def test_query_codes() -> None:
    assert split_codes(["Patient,Flag", " Flag ", ""]) == ("Patient", "Flag")
    assert unknown_types(["Patient", "Medication"]) == ["Medication"]
