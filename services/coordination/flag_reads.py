"""Flags over HTTP: a patient's flags, the clinic worklist, one flag with its explanation, and
the rules' catalogue. Clinic-scoped (another clinic's flag is answered like a missing one) and
every read of patient data logged for the auditors."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from services.coordination.audit.asof_reads import AsOf, action, checked, flags_json_as_of
from services.coordination.audit.explain import FlagExplanation, explained
from services.coordination.deps import Context
from services.coordination.flag_schemas import FlagPage, FlagResponse, RulesResponse
from services.coordination.flagging.acknowledge import NOT_FOUND, load_flag
from services.coordination.flagging.model import SEVERITIES, STATUSES, flag_json, from_row
from services.coordination.rules import rules_catalogue
from services.coordination.rules.registry import RULES_BY_ID
from services.coordination.sql import compiled
from services.coordination.worklist_query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    UNRESOLVED,
    BadCursor,
    WorklistCursor,
    WorklistPage,
    next_cursor,
    worklist_query,
)
from shared.access_log import record_access
from shared.auth import Principal, Role, require_roles
from shared.patient_api import CLINICAL_READERS, ClinicalReader, read_access

router = APIRouter(tags=["risk flags"])

FlagReader = Annotated[Principal, Depends(require_roles(*CLINICAL_READERS, Role.DASHBOARD))]
"""Who may list flags: the care team, admins, auditors and dashboards (not the note: see detail)."""

def _codes(values: list[str] | None) -> tuple[str, ...]:
    """``?status=a,b`` and ``?status=a&status=b`` alike."""
    return tuple(dict.fromkeys(v.strip() for value in values or () for v in value.split(",") if v.strip()))


def _unprocessable(name: str, msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": ["query", name], "msg": msg, "type": "value_error"}])


def _checked(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> tuple[str, ...]:
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise _unprocessable(name, f"must be among {', '.join(allowed)}")
    return values


StatusQuery = Annotated[list[str] | None, Query(alias="status", description="open, acknowledged, resolved")]


@router.get("/v1/patients/{patient_id}/flags", response_model=list[FlagResponse],
            summary="The patient's flags, oldest raised first")
async def patient_flags(patient_id: str, ctx: Context, principal: FlagReader,
                        statuses: StatusQuery = None, as_of: AsOf = None) -> list[dict[str, Any]]:
    wanted = _checked("status", _codes(statuses), STATUSES)
    if as_of is not None:  # the rules again, on what had been recorded by then
        clinic = await read_access(ctx, principal, patient_id, action("read flags", checked(as_of)))
        flags = await flags_json_as_of(ctx, patient_id, clinic, as_of)
        return [f for f in flags if not wanted or f["status"] in wanted]
    await read_access(ctx, principal, patient_id, "read flags")
    rows = await ctx.pool.fetch(
        "SELECT * FROM flags WHERE patient_id = $1 AND (cardinality($2::text[]) = 0 OR status = ANY($2::text[])) "
        "ORDER BY raised_at, flag_id", patient_id, list(wanted))
    return [flag_json(from_row(r)) for r in rows]


@router.get("/v1/flags", response_model=FlagPage,
            summary="The worklist of the caller's clinics: most severe first, then the oldest raised")
async def worklist(
    ctx: Context, principal: FlagReader,
    clinic: Annotated[str | None, Query(max_length=100, description="one of the caller's clinics")] = None,
    statuses: Annotated[list[str] | None, Query(alias="status", description="default: open and acknowledged")] = None,
    severities: Annotated[list[str] | None, Query(alias="severity", description="info, warning, high, urgent")] = None,
    rules: Annotated[list[str] | None, Query(alias="rule", description="rule ids, e.g. polypharmacy")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    try:
        after = WorklistCursor.decode(cursor) if cursor else None
    except BadCursor as exc:
        raise _unprocessable("cursor", str(exc)) from None
    clinics = sorted(principal.clinic_ids if clinic is None else principal.clinic_ids & {clinic})
    page = WorklistPage(clinics=tuple(clinics), statuses=_checked("status", _codes(statuses), STATUSES) or UNRESOLVED,
                        severities=_checked("severity", _codes(severities), SEVERITIES),
                        rules=_checked("rule", _codes(rules), tuple(RULES_BY_ID)), after=after, limit=limit)
    rows = []
    if clinics:  # a clinic outside the caller's: nothing, as if it had no flags
        sql, args = compiled(worklist_query(page))
        rows = await ctx.pool.fetch(sql, *args)
    shown = [from_row(r) for r in rows[:limit]]
    patients = sorted({(f.clinic_id, f.patient_id) for f in shown})
    if patients:  # one access-log row per patient the page shows
        async with ctx.pool.acquire() as conn, conn.transaction():
            for clinic_id, patient_id in patients:
                await record_access(conn, principal, clinic_id, patient_id, "read flag worklist")
    return {"flags": [flag_json(f) for f in shown], "next_cursor": next_cursor(rows, limit)}


@router.get("/v1/flags/{flag_id}", response_model=FlagExplanation,
            summary="One flag with its explanation: rule, version, thresholds at the time, each evidence event, "
                    "why it resolved and its changes (the acknowledgement's note for the care team only)")
async def flag_detail(flag_id: str, ctx: Context, principal: ClinicalReader) -> dict[str, Any]:
    flag = await load_flag(ctx.pool, flag_id)
    if flag is None or not principal.can_see_clinic(flag.clinic_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    await record_access(ctx.pool, principal, flag.clinic_id, flag.patient_id, "read flag")
    ids = [_uuid(e) for e in flag.evidence]
    rows = {str(r["event_id"]): r for r in await ctx.pool.fetch(
        "SELECT event_id, occurred_at, recorded_at, service, type, summary FROM timeline_entries "
        "WHERE event_id = ANY($1::uuid[])", [i for i in ids if i is not None])}
    note = await ctx.pool.fetchval("SELECT note FROM flag_acknowledgements WHERE flag_id = $1", flag_id)
    rule = RULES_BY_ID.get(flag.rule_id)
    return flag_json(flag) | {
        "rule": {"rule_id": flag.rule_id, "version": rule.version if rule else 0,
                 "description": rule.description if rule else ""},
        "evidence_events": [dict(rows[e]) | {"event_id": e} for e in flag.evidence if e in rows],
    } | await explained(ctx, principal, flag, note)


@router.get("/v1/rules", response_model=RulesResponse,
            summary="Every rule, its version, the defaults and the caller's clinics' thresholds")
async def rules_list(ctx: Context, principal: FlagReader) -> dict[str, Any]:
    return rules_catalogue(ctx.flagging.config, principal.clinic_ids)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None

