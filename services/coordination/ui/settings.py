"""The pages' view of the running service's settings."""

from __future__ import annotations

from fastapi import Request

from services.coordination.settings import CoordinationSettings, coordination_settings


def ui_settings(request: Request) -> CoordinationSettings:
    """The settings the app was started with (the lifespan put them on its runtime)."""
    return coordination_settings(request.app.state.runtime.settings)


def local_sign_in_enabled(s: CoordinationSettings) -> bool:
    """Only where the stack signs its own tokens: switched on (the local stack does) and an
    HS256 secret to sign with. Against an identity provider the pages never mint a token."""
    return s.ui_local_sign_in and s.jwt_algorithm == "HS256" and bool(s.jwt_secret)
