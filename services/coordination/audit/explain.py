"""Why a flag was raised and why it resolved, for the care team and the auditors.

The flag keeps its rule, the rule's version and the thresholds of its raise, and the ids of
the evidence events. What it does not keep is what ended it: the rules engine knows (each flag
it finds names the event that cleared it, or none when time alone did), so the patient's
history is evaluated again, as the live projection does. The flag's changes (raised,
acknowledged, resolved, with the moment each was committed) come from ``flag_changes``.

The acknowledgement's note is free text kept for the care team; an auditor sees that there is
one, not what it says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.coordination.deps import CoordinationContext
from services.coordination.flag_schemas import EvidenceEvent, FlagDetail
from services.coordination.flagging.history import load_histories
from services.coordination.flagging.model import StoredFlag
from services.coordination.rules import Flag, evaluate
from shared.auth import Principal, Role

NOTE_READERS = (Role.PRESCRIBER, Role.THERAPIST, Role.COORDINATOR, Role.ASSESSOR)
"""Who may read an acknowledgement's note: the care team (not auditors or admins)."""

ResolutionKind = Literal["event", "withdrawn", "time"]

TEXT: dict[ResolutionKind, str] = {
    "event": "a later event cleared the condition",
    "withdrawn": "withdrawn: an event recorded later, dated before the flag, showed its cause never held",
    "time": "the condition lapsed with the passing of time, with no event",
}


class Resolution(BaseModel):
    kind: ResolutionKind
    at: datetime = Field(description="resolved_at, in event time")
    text: str
    event: EvidenceEvent | None = Field(description="the event that cleared it (kind 'event')")


class FlagChange(BaseModel):
    change: str
    at: datetime = Field(description="when the service committed the change (wall clock)")
    status: str
    severity: str
    raised_at: datetime
    resolved_at: datetime | None


class FlagExplanation(FlagDetail):
    acknowledgement_note_withheld: bool = Field(
        description="a note exists but the caller's roles do not show it (auditors, admins)")
    resolution: Resolution | None = Field(description="why it resolved; null while unresolved")
    changes: list[FlagChange] = Field(description="every change of the flag, oldest first")


def may_read_note(principal: Principal) -> bool:
    return principal.has_any_role(*NOTE_READERS)


def resolution_kind(flag: StoredFlag, found: Flag | None) -> ResolutionKind | None:
    """Pure: why ``flag`` (as stored) resolved, given the engine's flag of the same id now."""
    if flag.resolved_at is None:
        return None
    if flag.withdrawn:
        return "withdrawn"
    return "event" if found is not None and found.resolved_by else "time"


async def _engine_flag(ctx: CoordinationContext, flag: StoredFlag) -> Flag | None:
    async with ctx.pool.acquire() as conn:
        history = (await load_histories(conn, [flag.patient_id])).get(flag.patient_id, [])
    as_of = max([datetime.now(UTC), *(e.recorded_at for e in history)])
    found = evaluate(history, as_of, ctx.flagging.config.for_clinic(flag.clinic_id), patient_id=flag.patient_id)
    return next((f for f in found if f.flag_id == flag.flag_id), None)


async def _entry(ctx: CoordinationContext, event_id: str) -> dict[str, Any] | None:
    row = await ctx.pool.fetchrow("SELECT event_id, occurred_at, recorded_at, service, type, summary "
                                  "FROM timeline_entries WHERE event_id = $1::text::uuid", event_id)
    return dict(row) | {"event_id": str(row["event_id"])} if row is not None else None


async def resolution(ctx: CoordinationContext, flag: StoredFlag) -> dict[str, Any] | None:
    if flag.resolved_at is None:
        return None
    found = None if flag.withdrawn else await _engine_flag(ctx, flag)
    kind = resolution_kind(flag, found)
    assert kind is not None
    event = await _entry(ctx, found.resolved_by) if kind == "event" and found and found.resolved_by else None
    return {"kind": kind, "at": flag.resolved_at, "text": TEXT[kind], "event": event}


async def changes(ctx: CoordinationContext, flag_id: str) -> list[dict[str, Any]]:
    rows = await ctx.pool.fetch(
        "SELECT change, at, flag->>'status' AS status, flag->>'severity' AS severity, flag->>'raised_at' AS raised_at,"
        " flag->>'resolved_at' AS resolved_at FROM flag_changes WHERE flag_id = $1 ORDER BY change_id", flag_id)
    return [dict(r) for r in rows]


async def explained(ctx: CoordinationContext, principal: Principal, flag: StoredFlag, note: str | None
                    ) -> dict[str, Any]:
    """The parts :class:`FlagExplanation` adds to the flag's detail; ``note``: as stored."""
    shown = note if may_read_note(principal) else None
    return {"acknowledgement_note": shown, "acknowledgement_note_withheld": note is not None and shown is None,
            "resolution": await resolution(ctx, flag), "changes": await changes(ctx, flag.flag_id)}
