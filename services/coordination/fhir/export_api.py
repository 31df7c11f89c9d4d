"""The FHIR Bulk Data export of a clinic (the Bulk Data Access IG's asynchronous pattern).

``GET /v1/fhir/$export?clinic=…&_type=…&_since=…`` answers 202 with ``Content-Location``, the
job's status URL. Polling it answers 202 with ``X-Progress`` while the job runs, then 200 with
the manifest: one NDJSON file per resource type, each downloadable with the same kind of token
by the same person (``requiresAccessToken``). ``DELETE`` on the status URL cancels the job and
deletes its output.

Auditors and coordinators only. An export covers only the caller's clinics: a clinic outside
them is left out (exported like a clinic with no patients), and a job is another person's or
unknown alike (404). Every patient an export reads, and every patient of a downloaded file, is
written to the access log.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AwareDatetime

from services.coordination.deps import Context
from shared.auth import Principal, Role, require_roles

from . import jobs
from .export import EXPORT_TYPES, NDJSON, OUTPUT_FORMATS, manifest, split_codes, unknown_types
from .patient_api import FHIR_JSON, fhir_base
from .worker import log_accesses

router = APIRouter(prefix="/v1/fhir", tags=["FHIR"])

Exporter = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.COORDINATOR))]
JOB_NOT_FOUND = "export job not found"
FILE_SUFFIX = ".ndjson"
RETRY_AFTER = "1"


def _unprocessable(name: str, msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": ["query", name], "msg": msg,
                                                                   "type": "value_error"}])


def _status_url(request: Request, job_id: uuid.UUID) -> str:
    return f"{fhir_base(request)}/export-jobs/{job_id}"


def outcome(diagnostics: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception", "diagnostics": diagnostics}]}


@router.get("/$export", status_code=202, response_class=Response,
            summary="Start a Bulk Data export of the caller's clinics (202, Content-Location: the status URL)")
async def kick_off(
    request: Request, ctx: Context, principal: Exporter,
    clinic: Annotated[list[str] | None, Query(max_length=1000, description="clinic ids; default: all the caller's")
                      ] = None,
    types: Annotated[list[str] | None, Query(alias="_type", max_length=1000,
                                             description=f"resource types among {', '.join(EXPORT_TYPES)}")] = None,
    since: Annotated[AwareDatetime | None, Query(alias="_since", description="only resources changed after")] = None,
    output_format: Annotated[str | None, Query(alias="_outputFormat", max_length=100,
                                               description="application/fhir+ndjson")] = None,
) -> Response:
    wanted = split_codes(types)
    if unknown_types(wanted):
        raise _unprocessable("_type", f"must be among {', '.join(EXPORT_TYPES)}")
    if output_format is not None and output_format not in OUTPUT_FORMATS:
        raise _unprocessable("_outputFormat", f"must be {NDJSON}")
    asked = split_codes(clinic)
    clinics = sorted(principal.clinic_ids if not asked else principal.clinic_ids & set(asked))
    job_id = await jobs.create(ctx.pool, principal, clinics, wanted, since, str(request.url))
    return Response(status_code=status.HTTP_202_ACCEPTED, headers={"Content-Location": _status_url(request, job_id)})


def _job_uuid(job_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return None


async def _own_job(ctx: Context, principal: Principal, job_id: str) -> jobs.Job:
    """The caller's job, provided they still see every clinic it covers; 404 otherwise (an id
    that is no job id at all too, so every id that names nothing of the caller's answers alike)."""
    parsed = _job_uuid(job_id)
    job = await jobs.load(ctx.pool, parsed) if parsed is not None else None
    if job is None or job.staff_id != principal.staff_id or not set(job.clinics) <= principal.clinic_ids:
        raise HTTPException(status.HTTP_404_NOT_FOUND, JOB_NOT_FOUND)
    return job


def _progress(job: jobs.Job) -> str:
    if job.patients_total is None:
        return "queued" if job.status == "accepted" else "starting"
    return f"{job.patients_done} of {job.patients_total} patients"


@router.get("/export-jobs/{job_id}", summary="An export's status: 202 with X-Progress, then 200 with the manifest",
            responses={202: {"description": "in progress"}, 200: {"description": "the manifest"}})
async def job_status(job_id: str, request: Request, ctx: Context, principal: Exporter) -> Response:
    job = await _own_job(ctx, principal, job_id)
    if job.status == "failed":
        return JSONResponse(outcome(job.error or "the export failed"), status_code=500, media_type=FHIR_JSON)
    if job.status != "completed" or job.transaction_time is None:
        return Response(status_code=status.HTTP_202_ACCEPTED,
                        headers={"X-Progress": _progress(job), "Retry-After": RETRY_AFTER})
    counts = await jobs.counts(ctx.pool, job.job_id)
    file_url = _status_url(request, job.job_id) + "/{type}" + FILE_SUFFIX
    return JSONResponse(manifest(job.transaction_time, job.request_url, counts, file_url))


@router.delete("/export-jobs/{job_id}", status_code=202, response_class=Response,
               summary="Cancel an export and delete its output")
async def cancel(job_id: str, ctx: Context, principal: Exporter) -> Response:
    job = await _own_job(ctx, principal, job_id)
    await jobs.delete(ctx.pool, job.job_id)
    return Response(status_code=status.HTTP_202_ACCEPTED)


# The file is a whole path segment ({type}.ndjson), not a parameter followed by a suffix: a
# template like {type}.ndjson is not a path parameter OpenAPI clients (and the route probes) can fill.
@router.get("/export-jobs/{job_id}/{file_name}", response_class=StreamingResponse,
            summary="One output file of a completed export, {type}.ndjson (application/fhir+ndjson)",
            responses={200: {"content": {NDJSON: {}}}})
async def download(job_id: str, file_name: str, ctx: Context, principal: Exporter) -> StreamingResponse:
    job = await _own_job(ctx, principal, job_id)
    resource_type = file_name.removesuffix(FILE_SUFFIX)
    patients = None
    if job.status == "completed" and file_name.endswith(FILE_SUFFIX):
        patients = await jobs.file_patients(ctx.pool, job.job_id, resource_type)
    if patients is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "file not found")
    async with ctx.pool.acquire() as conn, conn.transaction():
        await log_accesses(conn, principal, patients, f"download FHIR export {job.job_id} {resource_type}")
    return StreamingResponse(jobs.file_parts(ctx.pool, job.job_id, resource_type), media_type=NDJSON)
