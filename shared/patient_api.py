"""The route side of reads and commands about a patient, the same in every service:
scope to the caller's clinics, record reads for the auditors, refuse commands about an
erased patient, run a command once per Idempotency-Key.

A service's route builds its domain command and hands over an :data:`Execute` (its
command handler bound to the stream and the command); everything around it lives here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from shared.access_log import record_access
from shared.auth import Principal, Role, require_roles
from shared.envelope import Metadata
from shared.errors import Conflict, NotFound
from shared.handler import Hook, Outcome
from shared.idempotency import ToBody
from shared.metrics.note import note_refusal
from shared.request_context import command_metadata
from shared.service import ServiceContext, patient_clinic, patient_scope, run_command

Execute = Callable[[str, Metadata, Hook | None], Awaitable[Outcome[Any]]]
"""(clinic id, request metadata, same-transaction hook) -> what the command did."""

CLINICAL_READERS = (Role.PRESCRIBER, Role.THERAPIST, Role.ASSESSOR, Role.COORDINATOR, Role.ADMIN, Role.AUDITOR)
ClinicalReader = Annotated[Principal, Depends(require_roles(*CLINICAL_READERS))]
"""Who may read a patient's clinical records: the care team, admins and auditors."""

ERASED = "the patient's identity was erased; no new commands are accepted"


async def identity_erased(pool: asyncpg.Pool, patient_id: str) -> bool:
    """Whether assessment's erasure of this patient reached the service's directory."""
    erased = await pool.fetchval("SELECT identity_erased FROM patient_directory WHERE patient_id = $1",
                                 patient_id)
    return bool(erased)


async def refuse_erased(ctx: ServiceContext, patient_id: str, erased: bool | None = None) -> None:
    """An erased patient's pseudonymous history stays readable, but nothing new is recorded
    about someone the clinic no longer knows (409, with the reason). ``erased``: the mark as
    the request's directory lookup read it (None: read it now)."""
    if erased is None:
        erased = await identity_erased(ctx.pool, patient_id)
    if erased:
        note_refusal("erased")  # counted apart from other refusals of the stream's state
        raise Conflict(ERASED, field="patient_id")


@dataclass(frozen=True)
class Addressed:
    """The existing aggregate a command is about (a course, an episode), named by a client-sent id."""

    stream_id: str
    not_found: str  # the decider's own refusal for an unknown one, so both read the same
    field: str


async def require_owned(ctx: ServiceContext, patient_id: str, addressed: Addressed) -> None:
    """404 unless the aggregate exists and is this patient's. Checked before anything reads the
    stream's version: otherwise an id of another clinic's course, sent with a stale
    ``expected_version``, is answered 409 "it is at 2", telling that it exists and how busy it is."""
    subject = ctx.owners.get(addressed.stream_id)
    if subject is None:
        subject = await ctx.pool.fetchval("SELECT subject FROM events WHERE stream_id = $1 AND stream_version = 1",
                                          addressed.stream_id)
        if subject is not None:
            ctx.owners.put(addressed.stream_id, subject)  # a stream's first event never changes
    if subject != patient_id:
        raise NotFound(addressed.not_found, field=addressed.field)


async def submit(request: Request, ctx: ServiceContext, principal: Principal, patient_id: str,
                 execute: Execute, to_body: ToBody, status_code: int = 201,
                 addressed: Addressed | None = None) -> JSONResponse:
    """Run one command about ``patient_id`` and answer with ``to_body`` of its outcome.

    The clinic check comes first (404 outside the caller's clinics, before any stored answer
    could be replayed), then the ownership of the ``addressed`` aggregate (404, before any
    version is compared); the erasure check runs with the command itself, so a retry of a
    command that was accepted before the erasure still gets its first answer.
    """
    visible = await patient_scope(ctx, principal, patient_id)
    if addressed is not None:
        await require_owned(ctx, patient_id, addressed)
    metadata = command_metadata(request, principal)

    async def run(within: Hook | None) -> Outcome[Any]:
        # Checked only here (the mark as the lookup above read it), so a stored answer is replayed.
        await refuse_erased(ctx, patient_id, visible.erased)
        return await execute(visible.clinic, metadata, within)

    return await run_command(request, ctx, principal, run, to_body, status_code)


async def read_access(ctx: ServiceContext, principal: Principal, patient_id: str, action: str) -> str:
    """The patient's clinic for a read (404 outside the caller's clinics), with the read
    recorded for the auditors before anything is returned."""
    clinic = await patient_clinic(ctx, principal, patient_id)
    await record_access(ctx.pool, principal, clinic, patient_id, action)
    return clinic
