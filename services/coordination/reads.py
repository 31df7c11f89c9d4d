"""The timeline and the summary over HTTP: clinic-scoped, and every read logged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime

from services.coordination.audit.asof_reads import AsOf, action, checked, summary_json_as_of
from services.coordination.deps import Context, CoordinationContext
from services.coordination.flagging.model import flag_json, from_row
from services.coordination.projection.state import PatientSummary
from services.coordination.projection.view import summary_view
from services.coordination.schemas import TimelineResponse
from services.coordination.sql import compiled
from services.coordination.timeline_query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    BadCursor,
    Cursor,
    TimelinePage,
    page_of,
    timeline_query,
)
from shared.auth import Principal
from shared.patient_api import ClinicalReader, read_access

router = APIRouter(prefix="/v1/patients/{patient_id}", tags=["timeline and summary"])

NOT_PROJECTED = "patient not found"


async def _projected(ctx: CoordinationContext, principal: Principal, patient_id: str, action: str
                     ) -> PatientSummary:
    """The patient's summary, once the caller may see the patient (404 otherwise, the read
    logged) and the projection has seen the enrolment (404 until then, like an unknown
    patient; the directory and the summary are written in one transaction, so this is rare)."""
    await read_access(ctx, principal, patient_id, action)
    state = await ctx.pool.fetchval(
        "SELECT state FROM patient_summaries WHERE patient_id = $1 AND enrolled_at IS NOT NULL", patient_id)
    if state is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_PROJECTED)
    return PatientSummary.model_validate_json(state)


def _codes(values: list[str] | None) -> tuple[str, ...]:
    """``?types=A,B`` and ``?types=A&types=B`` alike."""
    return tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())


@router.get("/timeline", response_model=TimelineResponse,
            summary="Every event of the patient in clinical order (occurred_at, then recorded_at)")
async def timeline(
    patient_id: str, ctx: Context, principal: ClinicalReader,
    types: Annotated[list[str] | None, Query(description="event names, e.g. DoseAdjusted")] = None,
    services: Annotated[list[str] | None, Query(description="assessment, pharmacy, therapy, coordination")] = None,
    occurred_from: Annotated[AwareDatetime | None, Query(alias="from", description="inclusive")] = None,
    occurred_to: Annotated[AwareDatetime | None, Query(alias="to", description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    try:
        after = Cursor.decode(cursor) if cursor else None
    except BadCursor as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["query", "cursor"], "msg": str(exc), "type": "value_error"}]) from None
    recorded_by = checked(as_of) if as_of is not None else None
    await _projected(ctx, principal, patient_id, action("read timeline", as_of))
    page = TimelinePage(patient_id, _codes(types), _codes(services), occurred_from, occurred_to, after, limit,
                        recorded_by)
    sql, args = compiled(timeline_query(page))
    rows = [dict(r) | {"data": json.loads(r["data"]), "event_id": r["event_id"]}
            for r in await ctx.pool.fetch(sql, *args)]
    result = page_of(rows, limit)
    result["entries"] = [e | {"event_id": str(e["event_id"])} for e in result["entries"]]
    return result


@router.get("/summary", summary="The patient's care at a glance: medications, therapy, scores, decisions, open flags")
async def summary(patient_id: str, ctx: Context, principal: ClinicalReader, as_of: AsOf = None) -> dict[str, Any]:
    if as_of is not None:  # folded again from what had been recorded by then
        clinic = await read_access(ctx, principal, patient_id, action("read summary", checked(as_of)))
        return await summary_json_as_of(ctx, patient_id, clinic, as_of)
    state = await _projected(ctx, principal, patient_id, "read summary")
    rows = await ctx.pool.fetch(
        "SELECT * FROM flags WHERE patient_id = $1 AND status <> 'resolved' "
        "ORDER BY severity_rank DESC, raised_at, flag_id", patient_id)
    return summary_view(state, datetime.now(UTC), [flag_json(from_row(r)) for r in rows])
