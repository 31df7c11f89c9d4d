"""The I/O of ``?as_of=T`` on the timeline, summary and flags: the entries recorded by T and the
acknowledgements, read once; :mod:`.asof` does the rest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import HTTPException, Query, status
from pydantic import AwareDatetime

from services.coordination.deps import CoordinationContext
from services.coordination.flagging.model import Acknowledgement, StoredFlag, flag_json
from services.coordination.handlers import registry
from services.coordination.projection.view import summary_view

from .asof import flags_as_of, open_first, summary_as_of

AsOf = Annotated[AwareDatetime | None, Query(
    description="what had been recorded by this moment (ISO 8601 with a zone); entries still in clinical order")]

ENTRIES_RECORDED_BY = """
SELECT event_id, patient_id, clinic_id, occurred_at, recorded_at, service, type, stream_id, sequence, data
FROM timeline_entries WHERE patient_id = $1 AND recorded_at <= $2
"""


def checked(as_of: datetime) -> datetime:
    """A moment not yet come has no record to show (422), rather than a guess at the future."""
    if as_of > datetime.now(UTC):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["query", "as_of"], "msg": "as_of is in the future", "type": "value_error"}])
    return as_of


def action(what: str, as_of: datetime | None) -> str:
    """The access log's words for the read, naming the moment an auditor looked back to."""
    return what if as_of is None else f"{what} as of {as_of.astimezone(UTC).isoformat()}"


async def _entries(ctx: CoordinationContext, patient_id: str, as_of: datetime) -> list[Any]:
    return list(await ctx.pool.fetch(ENTRIES_RECORDED_BY, patient_id, as_of))


async def _acknowledgements(ctx: CoordinationContext, patient_id: str, as_of: datetime
                            ) -> dict[str, Acknowledgement]:
    rows = await ctx.pool.fetch(
        "SELECT flag_id, reason, acknowledged_by, acknowledged_at FROM flag_acknowledgements "
        "WHERE patient_id = $1 AND acknowledged_at <= $2", patient_id, as_of)
    return {r["flag_id"]: Acknowledgement(r["reason"], r["acknowledged_by"], r["acknowledged_at"]) for r in rows}


async def stored_flags_as_of(ctx: CoordinationContext, patient_id: str, clinic_id: str, as_of: datetime,
                             entries: list[Any] | None = None) -> list[StoredFlag]:
    rows = entries if entries is not None else await _entries(ctx, patient_id, as_of)
    rules = ctx.flagging.config.for_clinic(clinic_id)
    return flags_as_of(rows, as_of, rules, patient_id, clinic_id, await _acknowledgements(ctx, patient_id, as_of))


async def flags_json_as_of(ctx: CoordinationContext, patient_id: str, clinic_id: str, as_of: datetime
                           ) -> list[dict[str, Any]]:
    """The patient's flags as they stood at ``as_of``, oldest raised first."""
    return [flag_json(f) for f in await stored_flags_as_of(ctx, patient_id, clinic_id, as_of)]


async def summary_json_as_of(ctx: CoordinationContext, patient_id: str, clinic_id: str, as_of: datetime
                             ) -> dict[str, Any]:
    """The summary folded from the entries recorded by ``as_of``, its windows measured from
    ``as_of`` and its open flags those of that moment."""
    entries = await _entries(ctx, patient_id, as_of)
    state = summary_as_of(entries, patient_id, clinic_id, registry())
    flags = await stored_flags_as_of(ctx, patient_id, clinic_id, as_of, entries)
    return summary_view(state, as_of, [flag_json(f) for f in open_first(flags)])
