"""``GET /ui/api/patient-names?id=…``: patients' display names for the pages, from the assessment
service, which alone keeps identity.

The caller's own bearer token is passed through, so assessment decides who may see a name
(clinical staff of the patient's clinic) and records each read for the auditors, as it does for
any client; the pages avoid a cross-origin call (and CORS) by asking here. Names are answered,
never logged or kept.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse

from services.coordination.settings import CoordinationSettings
from services.coordination.ui.settings import ui_settings
from shared.auth import Principal, Role, current_principal

router = APIRouter(prefix="/ui/api", include_in_schema=False)

MAX_IDS = 100
PATIENT_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# The roles assessment shows identity to; others are not asked about at all.
IDENTITY_READERS = frozenset({Role.PRESCRIBER, Role.THERAPIST, Role.ASSESSOR, Role.COORDINATOR, Role.ADMIN})
CONCURRENCY = 6  # look-ups at once: the caller's rate at assessment is shared with the pages' own
TIMEOUT_SECONDS = 4.0
MAX_BODY = 64 * 1024

# No proxy from the environment: assessment is reached directly, like every service-to-service call.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch_name(base_url: str, patient_id: str, authorization: str) -> str | None:
    """The display name, or None when assessment refuses, does not know the patient, the identity
    was erased, or it does not answer in time (the page then shows the pseudonymous id)."""
    request = urllib.request.Request(f"{base_url.rstrip('/')}/v1/patients/{quote(patient_id, safe='')}",
                                     headers={"Authorization": authorization, "Accept": "application/json"})
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            body: Any = json.loads(response.read(MAX_BODY))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    name = body.get("display_name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


@router.get("/patient-names")
async def patient_names(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    s: Annotated[CoordinationSettings, Depends(ui_settings)],
    ids: Annotated[list[str], Query(alias="id")],
) -> JSONResponse:
    wanted = list(dict.fromkeys(ids))
    if len(wanted) > MAX_IDS or not all(PATIENT_ID.match(i) for i in wanted):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [
            {"loc": ["query", "id"], "msg": f"at most {MAX_IDS} patient ids", "type": "value_error"}])
    names: dict[str, str | None] = dict.fromkeys(wanted)
    allowed = bool(principal.roles & IDENTITY_READERS)
    if allowed and wanted:
        authorization = request.headers["authorization"]  # verified by current_principal
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(patient_id: str) -> None:
            async with gate:
                names[patient_id] = await asyncio.to_thread(fetch_name, s.ui_assessment_url, patient_id,
                                                            authorization)

        await asyncio.gather(*(one(i) for i in wanted))
    return JSONResponse({"names": names, "identity_visible": allowed}, headers={"Cache-Control": "no-store"})
