"""``GET /v1/audit/access`` on coordination: the access log of all four services, merged by time.

Each service keeps its own log (reads and refused attempts) in its own database; coordination
asks every other one for its rows (its own ``GET /v1/audit/access``, same filters) with the
auditor's own bearer token, so each service applies its own authorisation and clinic scope,
and records the read in its own log. A service that does not answer in time, or answers
anything but its rows, is named in ``unavailable`` instead of failing the request: an auditor
gets what can be had, and knows what is missing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request

from services.coordination.deps import Context
from services.coordination.settings import coordination_settings
from shared.access_log_api import Auditor, Filters, local_access

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/audit", tags=["audit"])

PATH = "/v1/audit/access"
MAX_BODY = 64 * 1024 * 1024  # a peer's answer is bounded by its limit; this bounds a broken one


def _get(url: str, authorization: str, timeout: float) -> dict[str, Any] | None:
    """A peer's rows, or None when it cannot give them (blocking: run in a thread)."""
    request = urllib.request.Request(url, headers={"Authorization": authorization, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # URLs from settings only
            body = json.loads(response.read(MAX_BODY))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        # The class only: an error's text may quote the URL's query (a patient id).
        log.warning("a service's access log is unavailable", extra={"error_type": type(exc).__name__})
        return None
    if not isinstance(body, dict) or not isinstance(body.get("entries"), list):
        return None
    return body


async def ask_peers(peers: Mapping[str, str], query: str, authorization: str, timeout: float
                    ) -> dict[str, dict[str, Any] | None]:
    names = sorted(peers)
    answers = await asyncio.gather(*(
        asyncio.to_thread(_get, f"{peers[n].rstrip('/')}{PATH}{'?' + query if query else ''}", authorization,
                          timeout) for n in names))
    return dict(zip(names, answers, strict=True))


def _order(entry: Mapping[str, Any]) -> tuple[datetime, str, int]:
    return datetime.fromisoformat(entry["at"]), str(entry["service"]), int(entry["id"])


def merge(parts: Sequence[tuple[str, dict[str, Any] | None]], limit: int) -> dict[str, Any]:
    """Pure: every answer's entries by time (then service, then row id), at most ``limit``;
    the services that did not answer in ``unavailable``."""
    answered = [(name, body) for name, body in parts if body is not None]
    entries = sorted((e for _, body in answered for e in body["entries"]), key=_order)
    return {"entries": entries[:limit], "services": sorted(name for name, _ in answered),
            "unavailable": sorted(name for name, body in parts if body is None),
            "truncated": len(entries) > limit or any(body.get("truncated") for _, body in answered)}


@router.get("/access", summary="The access log of every service, merged by time: reads and refused attempts")
async def merged_access(request: Request, ctx: Context, principal: Auditor, query: Filters) -> dict[str, Any]:
    settings = coordination_settings(ctx.runtime.settings)
    own = await local_access(ctx, principal, query)
    peers = await ask_peers(settings.audit_peer_urls, request.url.query, request.headers.get("authorization", ""),
                            settings.audit_peer_timeout_seconds)
    return merge([(settings.service_name, own), *peers.items()], query.limit)
