"""FastAPI side of authentication and authorisation.

Routes declare ``Depends(require_roles(Role.PRESCRIBER))`` and receive a
:class:`Principal`. The :class:`Authenticator` itself lives on
``app.state.authenticator``, installed by the app factory, so importing a router builds
nothing and tests can install one with their own key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from shared.auth.principal import Principal, Role
from shared.auth.tokens import AuthConfig, AuthError, VerifiedTokens, verify_token_until
from shared.limits import RateLimiter, retry_after

_log = logging.getLogger(__name__)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=_CHALLENGE)


class Authenticator:
    """Turns an ``Authorization: Bearer`` header into a :class:`Principal` or a 401.

    The 401 detail is deliberately generic: telling a caller *why* a token failed helps
    an attacker more than a legitimate client, and the token is never echoed. The reason
    goes to the log instead. With a ``limiter``, a verified caller above its rate is
    answered 429 with ``Retry-After``.
    """

    def __init__(self, config: AuthConfig, limiter: RateLimiter | None = None,
                 cache_size: int = 10_000) -> None:
        self.config = config
        self.limiter = limiter
        # Each distinct token is verified once (until it expires), not on every request.
        self.tokens = VerifiedTokens(config, cache_size)

    def _bearer_token(self, authorization: str | None) -> str:
        if not authorization:
            raise _unauthorized("not authenticated")
        if len(authorization) > self.config.max_token_bytes + len("Bearer "):
            # Refused on its length alone: nothing of a huge header is split, decoded or parsed.
            _log.info("token rejected: token too large")
            raise _unauthorized("invalid or expired token")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("not authenticated")
        return token

    async def verify(self, token: str) -> Principal:
        """The token's principal (verified once per distinct token), or AuthError."""
        cached = self.tokens.get(token)
        if cached is not None:
            return cached
        if self.config.jwks_url is None:
            return self.tokens.verify(token)
        # A JWKS cache miss is blocking network I/O; keep it off the event loop.
        principal, expires = await run_in_threadpool(verify_token_until, token, self.config)
        self.tokens.put(token, principal, expires)
        return principal

    async def authenticate(self, authorization: str | None) -> Principal:
        token = self._bearer_token(authorization)
        try:
            principal = await self.verify(token)
        except AuthError as exc:
            _log.info("token rejected: %s", exc.reason)
            raise _unauthorized("invalid or expired token") from None
        if self.limiter is not None and (wait := self.limiter.take(principal.staff_id)) > 0:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail="too many requests",
                                headers={"Retry-After": retry_after(wait)})
        return principal

    async def __call__(self, request: Request) -> Principal:
        return await self.authenticate(request.headers.get("authorization"))


async def current_principal(request: Request) -> Principal:
    """Dependency: the verified caller of this request.

    Fails closed: an app without an authenticator is a wiring bug and answers 500,
    never an anonymous 200.
    """
    authenticator = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        raise RuntimeError("app.state.authenticator is not set; the app factory must install one")
    principal: Principal = await authenticator(request)
    return principal


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: the caller, provided they hold at least one of ``roles``.

    Roles are listed explicitly per route; no role (not even admin) is implied, so
    reading a route's dependencies tells the whole story of who may call it.
    """
    if not roles:
        raise ValueError("require_roles needs at least one role")
    allowed = tuple(Role(role) for role in roles)
    detail = "requires one of roles: " + ", ".join(role.value for role in allowed)

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if not principal.has_any_role(*allowed):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)
        return principal

    return dependency


def scope_to_clinic(principal: Principal, clinic_id: str | None) -> None:
    """Refuse access to a patient outside the caller's clinics as if it did not exist.

    ``clinic_id`` is the clinic of the looked-up patient, or ``None`` when there is no
    such patient; both answer the same 404, so the response never reveals that a
    patient of another clinic exists.
    """
    if clinic_id is None or not principal.can_see_clinic(clinic_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="patient not found")
