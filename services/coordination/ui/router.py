"""The pages under ``/ui``: server-rendered shells (Jinja2) whose scripts read the JSON API
with the user's bearer token, and the static files they load.

The pages themselves carry no patient data: a browser does not send the token on a page
load (it is kept in the tab's sessionStorage, not a cookie), so every read goes through the
API's own authorisation, clinic scoping and access log. Each page forbids scripts, styles and
connections from anywhere but this service (Content-Security-Policy): everything is served
from the repository, nothing from a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.coordination.registry.caseload import SORTS
from services.coordination.settings import CoordinationSettings
from services.coordination.ui import names, sign_in
from services.coordination.ui.settings import local_sign_in_enabled, ui_settings
from services.coordination.ui.vocabulary import page_vocabulary
from shared.auth import Role

HERE = Path(__file__).resolve().parent
STATIC_PREFIX = "/ui/static"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # Patient ids are in the pages' URLs: they are not handed to other sites.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Settings = Annotated[CoordinationSettings, Depends(ui_settings)]

# Roles offered on the local sign-in page, the care team's first.
SIGN_IN_ROLES = (Role.COORDINATOR, Role.PRESCRIBER, Role.THERAPIST, Role.ASSESSOR, Role.DASHBOARD, Role.AUDITOR,
                 Role.ADMIN)


def ui_router() -> APIRouter:
    """Pages, their small API and the static files; built when the app is, never at import."""
    templates = Jinja2Templates(directory=HERE / "templates")
    router = APIRouter(include_in_schema=False)

    def page(request: Request, template: str, title: str, **config: Any) -> HTMLResponse:
        context = {"title": title, "static": STATIC_PREFIX, "page": template.removesuffix(".html"),
                   "config": {"page": template.removesuffix(".html"), "vocabulary": page_vocabulary(), **config}}
        response = templates.TemplateResponse(request, template, context)
        response.headers.update(SECURITY_HEADERS)
        return response

    @router.get("/ui")
    async def home() -> Response:
        return RedirectResponse("/ui/worklist", status_code=303)

    @router.get("/ui/sign-in")
    async def sign_in_page(request: Request, s: Settings) -> HTMLResponse:
        local = local_sign_in_enabled(s)
        clinics = await sign_in.known_clinics(request.app.state.runtime.pool) if local else []
        return page(request, "sign_in.html", "Sign in", local_sign_in=local,
                    roles=[r.value for r in SIGN_IN_ROLES], clinics=clinics or ["clinic-a"])

    @router.get("/ui/worklist")
    async def worklist_page(request: Request) -> HTMLResponse:
        return page(request, "worklist.html", "Clinic worklist")

    @router.get("/ui/caseload")
    async def caseload_page(request: Request, sort: str | None = None) -> HTMLResponse:
        # An unknown order shows the default one: the links offer only the API's own.
        return page(request, "caseload.html", "Caseload", sorts=list(SORTS),
                    sort=sort if sort in SORTS else SORTS[0])

    @router.get("/ui/patients/{patient_id}")
    async def patient_page(request: Request, patient_id: str) -> HTMLResponse:
        return page(request, "patient.html", "Patient course", patient_id=patient_id)

    router.include_router(sign_in.router)
    router.include_router(names.router)
    router.mount(STATIC_PREFIX, StaticFiles(directory=HERE / "static"), name="ui-static")
    return router
