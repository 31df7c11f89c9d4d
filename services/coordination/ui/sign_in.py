"""``POST /ui/api/local-token``: a token signed with the local stack's secret, for the chosen
roles and clinics.

Anyone who can reach the port may ask, so this exists only where the stack runs with its own
secret and ``ui_local_sign_in`` on (``make up`` sets it); elsewhere the route answers 404, as
if it did not exist. The body must be JSON: a page of another site cannot send that without a
CORS preflight, which this service never grants.
"""

from __future__ import annotations

import logging
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import Field

from services.coordination.settings import CoordinationSettings
from services.coordination.ui.settings import local_sign_in_enabled, ui_settings
from shared.auth import Role, issue_token
from shared.schemas import Strict

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ui/api", include_in_schema=False)

TOKEN_SECONDS = 8 * 3600  # a shift; within the 12 h every token is held to
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"

Settings = Annotated[CoordinationSettings, Depends(ui_settings)]


class LocalTokenRequest(Strict):
    staff_id: str = Field(pattern=IDENTIFIER)
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    clinics: list[Annotated[str, Field(pattern=IDENTIFIER)]] = Field(min_length=1, max_length=20)


def require_local(s: CoordinationSettings) -> None:
    if not local_sign_in_enabled(s):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")


@router.post("/local-token")
async def local_token(body: LocalTokenRequest, request: Request, s: Settings) -> dict[str, object]:
    require_local(s)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the request as application/json")
    roles = sorted(dict.fromkeys(role.value for role in body.roles))
    clinics = sorted(dict.fromkeys(body.clinics))
    assert s.jwt_secret is not None  # local_sign_in_enabled checked it
    token = issue_token(s.jwt_secret, sub=body.staff_id, roles=roles, clinics=clinics, ttl_seconds=TOKEN_SECONDS)
    log.info("local sign-in token issued for staff %s (roles %s)", body.staff_id, ",".join(roles))
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS,
            "staff_id": body.staff_id, "roles": roles, "clinics": clinics}


async def known_clinics(pool: asyncpg.Pool, limit: int = 50) -> list[str]:
    """Clinics that have patients here, offered on the local sign-in page (ids only)."""
    rows = await pool.fetch("SELECT DISTINCT clinic_id FROM patient_directory ORDER BY clinic_id LIMIT $1", limit)
    return [str(r["clinic_id"]) for r in rows]
