"""The quality measures as FHIR ``MeasureReport`` resources, and a search's answer as a Bundle
(type searchset); pure (the read is the registry's :func:`clinic_measures`).

The registry builds the reports (:mod:`services.coordination.registry.reports`, one summary
report per clinic, month and measure); here they become resources of this export: an id like
every other exported resource's (uuid5 of the source: clinic, month and measure), and a
``reporter`` that refers to the clinic's ``Organization``, which the Bundle includes so the
reference resolves. A summary report names no patient.
"""

from __future__ import annotations

from datetime import datetime

from services.coordination.registry.measures import MeasuresResult, default_period
from services.coordination.registry.reports import measure_report

from .bundle import organization
from .codes import CLINIC, organization_id, ref, resource_id
from .common import Resource

MEASURE_REPORT = "MeasureReport"


# the registry's: the twelve months up to a moment, and its one read of the measures
default_months = default_period


def measure_report_resources(result: MeasuresResult) -> list[Resource]:
    """Every cell of ``result`` as a MeasureReport of this export, in the result's order."""
    out = []
    for cell in result.cells:
        report = measure_report(cell, result)
        # The registry's id is readable but cut to 64 characters, so two long clinic ids could
        # share one; the export's ids are uuid5 of the source, as for every other resource.
        report["id"] = resource_id(MEASURE_REPORT, f"{cell.clinic_id}/{cell.month}/{cell.measure_id}")
        report["reporter"] = ref("Organization", organization_id(cell.clinic_id)) | {
            "identifier": {"system": CLINIC, "value": cell.clinic_id}}
        out.append(report)
    return out


def searchset(result: MeasuresResult, base_url: str, self_url: str, timestamp: datetime) -> Resource:
    """The search's Bundle: each report a match, then each clinic's Organization an include
    (``total`` counts the matches only, as FHIR search does)."""
    reports = measure_report_resources(result)
    orgs = [organization(c) for c in result.clinics]

    def entry(r: Resource, mode: str) -> Resource:
        return {"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": mode}}

    entries = [entry(r, "match") for r in reports] + [entry(o, "include") for o in orgs]
    out: Resource = {"resourceType": "Bundle", "type": "searchset", "timestamp": timestamp.isoformat(),
                     "total": len(reports), "link": [{"relation": "self", "url": self_url}]}
    return out | ({"entry": entries} if entries else {})  # FHIR JSON has no empty arrays
