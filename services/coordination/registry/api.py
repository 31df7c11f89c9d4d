"""GET /v1/caseload and GET /v1/measures.

Both read the caller's clinics only (a clinic outside them gives nothing, as the worklist does)
and record in the access log one row per patient whose data they show. The measures' counts
alone name no patient and are not logged; ``?include=patients`` is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response

from services.coordination.audit.asof_reads import AsOf, action, checked
from services.coordination.deps import Context, CoordinationContext
from shared.access_log import record_access
from shared.auth import Principal, Role, require_roles

from . import caseload as cl
from .inputs import care_records, enrolled_by, open_flags
from .measures import MEASURES, VERSION, Cell, MeasuresResult, Month, PeriodError, compute, period
from .schemas import CaseloadPage, MeasuresPage

router = APIRouter(tags=["caseload and quality measures"])

CaseloadReader = Annotated[Principal, Depends(require_roles(Role.COORDINATOR, Role.PRESCRIBER, Role.THERAPIST))]
MeasuresReader = Annotated[Principal, Depends(require_roles(Role.COORDINATOR, Role.AUDITOR))]
ClinicQuery = Annotated[str | None, Query(max_length=100, description="one of the caller's clinics (default: all)")]

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
FROM_TEXT = "first month, YYYY-MM (default: 11 months before to)"
TO_TEXT = "last month, YYYY-MM (default: the month of as_of)"


def _unprocessable(name: str, msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": ["query", name], "msg": msg, "type": "value_error"}])


def _clinics(principal: Principal, clinic: str | None) -> list[str]:
    return sorted(principal.clinic_ids if clinic is None else principal.clinic_ids & {clinic})


async def _log(ctx: CoordinationContext, principal: Principal, patients: list[tuple[str, str]], what: str) -> None:
    if patients:
        async with ctx.pool.acquire() as conn, conn.transaction():
            for clinic_id, patient_id in sorted(set(patients)):
                await record_access(conn, principal, clinic_id, patient_id, what)


# --------------------------------------------------------------------------- caseload

CSV_COLUMNS = ("patient_id", "clinic_id", "care_manager", "care_started_at", "weeks_in_treatment",
               "phq9_baseline", "phq9_latest", "phq9_change_percent", "gad7_baseline", "gad7_latest",
               "gad7_change_percent", "last_contact_at", "days_since_contact", "next_contact_due", "contact_overdue",
               "case_review_due", "flags_urgent", "flags_high", "flags_warning", "flags_info")


def _flat(row: dict[str, Any]) -> list[Any]:
    def inst(name: str) -> list[Any]:
        i = row[name]
        return [i["baseline"]["total"], i["latest"]["total"], i["change_percent"]] if i else [None, None, None]

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return [row["patient_id"], row["clinic_id"], row["care_manager"], iso(row["care_started_at"]),
            row["weeks_in_treatment"], *inst("phq9"), *inst("gad7"), iso(row["last_contact_at"]),
            row["days_since_contact"], iso(row["next_contact_due"]), row["contact_overdue"], row["case_review_due"],
            *(row["open_flags"][s] for s in cl.SEVERITIES)]


def _csv(rows: list[dict[str, Any]], next_cursor: str | None) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(["" if v is None else v for v in _flat(r)] for r in rows)
    headers = {"Content-Disposition": 'attachment; filename="caseload.csv"'}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "content": {"text/csv": {"schema": {"type": "string", "description": "a header row: " + ", ".join(CSV_COLUMNS)}}},
    "headers": {"X-Next-Cursor": {"schema": {"type": "string"}, "description": "the next page's cursor (CSV)"}},
}}


@router.get("/v1/caseload", response_model=CaseloadPage, responses=CSV_RESPONSE,
            summary="The patients in active care of the caller's clinics, one row each "
                    "(Accept: text/csv for a spreadsheet; the next page's cursor in X-Next-Cursor)")
async def caseload(
    request: Request, ctx: Context, principal: CaseloadReader, clinic: ClinicQuery = None,
    care_manager: Annotated[str | None, Query(max_length=100, description="staff id who enrolled the patient")] = None,
    sort: Annotated[cl.Sort, Query(description="the most pressing first")] = "next_contact_due",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
) -> CaseloadPage | Response:
    try:
        after = cl.decode_cursor(sort, cursor) if cursor else None
    except cl.BadCursor as exc:
        raise _unprocessable("cursor", str(exc)) from None
    now = datetime.now(UTC)
    records = [r for r in await care_records(ctx.pool, _clinics(principal, clinic), now)
               if r.enrolled_at is not None and cl.in_active_care(r)]
    ids = [r.patient_id for r in records]
    managers, flags = await enrolled_by(ctx.pool, ids), await open_flags(ctx.pool, ids)
    rows = [cl.caseload_row(r, managers.get(r.patient_id), flags.get(r.patient_id, {}), now) for r in records]
    if care_manager is not None:
        rows = [r for r in rows if r["care_manager"] == care_manager]
    shown, next_cursor = cl.page(rows, sort, limit, after)
    await _log(ctx, principal, [(r["clinic_id"], r["patient_id"]) for r in shown], "read caseload")
    if "text/csv" in request.headers.get("accept", ""):
        return _csv(shown, next_cursor)
    return CaseloadPage.model_validate({"patients": shown, "next_cursor": next_cursor, "as_of": now})


# --------------------------------------------------------------------------- measures


def _cell_json(cell: Cell, patients: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"measure_id": cell.measure_id, "numerator": len(cell.numerator),
                           "denominator": len(cell.denominator), "rate": cell.rate}
    if cell.measure_id == "nonresponse_to_escalation_days":
        out["median_days"] = cell.median_days
    if patients:
        out["patients"] = {"numerator": list(cell.numerator), "denominator": list(cell.denominator)}
    return out


def result_json(result: MeasuresResult, patients: bool) -> dict[str, Any]:
    by_clinic: dict[str, dict[str, list[dict[str, Any]]]] = {c: {} for c in result.clinics}
    for cell in result.cells:
        by_clinic[cell.clinic_id].setdefault(str(cell.month), []).append(_cell_json(cell, patients))
    return {
        "as_of": result.as_of.isoformat(), "from": str(result.first), "to": str(result.last), "version": VERSION,
        "definitions": [{"measure_id": m.measure_id, "version": m.version, "title": m.title,
                         "definition": m.definition, "source": m.source, "kind": m.kind,
                         "attribution": m.attribution} for m in MEASURES],
        "clinics": [{"clinic_id": c, "months": [{"month": month, "measures": cells} for month, cells in months.items()]}
                    for c, months in by_clinic.items()],
    }


async def clinic_measures(pool: asyncpg.Pool, clinics: Sequence[str], as_of: datetime, first: Month,
                          last: Month) -> MeasuresResult:
    """The measures of ``clinics`` from what had been recorded by ``as_of`` (every reader of the
    measures — this API, the FHIR MeasureReports, the bulk export — goes through here)."""
    return compute(await care_records(pool, clinics, as_of), as_of, first, last, clinics)


def measures_period(as_of: datetime, first: str | None, last: str | None) -> tuple[Month, Month]:
    """:func:`period`, its refusals as 422s naming the query field."""
    try:
        return period(as_of, first, last)
    except PeriodError as exc:
        raise _unprocessable(exc.field, str(exc)) from None


async def measures_result(ctx: CoordinationContext, clinics: list[str], as_of: datetime, first: Month,
                          last: Month) -> MeasuresResult:
    return await clinic_measures(ctx.pool, clinics, as_of, first, last)


# Unset fields are left out: median_days belongs to the median measure, patients to include=patients.
@router.get("/v1/measures", response_model=MeasuresPage, response_model_exclude_unset=True,
            summary="Care-process quality measures per clinic and month, as known at as_of")
async def measures(
    ctx: Context, principal: MeasuresReader, clinic: ClinicQuery = None,
    first: Annotated[str | None, Query(alias="from", max_length=10, description=FROM_TEXT)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10, description=TO_TEXT)] = None,
    as_of: AsOf = None,
    include: Annotated[Literal["patients"] | None, Query(description="patients: the ids behind each number")] = None,
) -> MeasuresPage:
    moment = checked(as_of) if as_of is not None else datetime.now(UTC)
    frm, to = measures_period(moment, first, last)
    result = await measures_result(ctx, _clinics(principal, clinic), moment, frm, to)
    if include == "patients":
        clinic_of = {p: c.clinic_id for c in result.cells for p in c.denominator}
        await _log(ctx, principal, [(c, p) for p, c in clinic_of.items()],
                   action("read quality measures' patients", as_of))
    return MeasuresPage.model_validate(result_json(result, include == "patients"))
