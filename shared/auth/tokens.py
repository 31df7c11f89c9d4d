"""JWT verification and local issuance.

Verification is strict on purpose: one configured algorithm (never ``none``, never the
token's own choice, which is the classic HS256/RS256 key-confusion hole), a required
expiry, subject, issuer and audience, and our two claims ``roles`` and ``clinics``.
Every failure becomes an :class:`AuthError` with a short reason that never contains
token material, so it is safe to log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import jwt

from shared.auth.principal import Principal, Role

Algorithm = Literal["HS256", "RS256"]
_ALGORITHMS: frozenset[str] = frozenset({"HS256", "RS256"})
_REQUIRED_CLAIMS = ["exp", "sub", "iss", "aud"]


class AuthError(Exception):
    """A token was rejected. ``reason`` is short and free of token contents."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AuthConfig:
    """How tokens are verified.

    HS256 with a shared secret serves the local stack and tests; RS256 with a PEM public
    key or a JWKS URL serves a real identity provider. A config that cannot verify
    anything is rejected when built, not on the first request.
    """

    algorithm: Algorithm
    hs256_secret: str | None = None
    rs256_public_key: str | None = None
    jwks_url: str | None = None
    issuer: str = "carecoord"
    audience: str = "carecoord"
    leeway_seconds: int = 30

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported algorithm {self.algorithm!r}; use HS256 or RS256")
        if self.algorithm == "HS256" and not self.hs256_secret:
            raise ValueError("HS256 needs hs256_secret")
        if self.algorithm == "RS256":
            sources = [self.rs256_public_key, self.jwks_url]
            if sum(source is not None for source in sources) != 1:
                raise ValueError("RS256 needs exactly one of rs256_public_key or jwks_url")
        if self.leeway_seconds < 0:
            raise ValueError("leeway_seconds must not be negative")


@lru_cache(maxsize=16)
def _jwks_client(config: AuthConfig) -> jwt.PyJWKClient:
    """One client per config, so its key cache lives as long as the process.

    Created on the first token that needs it, never at import: building the app must
    not touch the network.
    """
    assert config.jwks_url is not None
    return jwt.PyJWKClient(config.jwks_url, cache_keys=True)


def _verification_key(token: str, config: AuthConfig) -> Any:
    if config.algorithm == "HS256":
        return config.hs256_secret
    if config.rs256_public_key is not None:
        return config.rs256_public_key
    try:
        return _jwks_client(config).get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientError as exc:
        raise AuthError("signing key unavailable") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("malformed token") from exc


def _string_list(claims: dict[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if value is None:
        raise AuthError(f"missing claim: {name}")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AuthError(f"claim {name} must be a list of strings")
    return value


def _decode(token: str, config: AuthConfig) -> dict[str, Any]:
    # jwt.decode refuses any algorithm but the configured one (InvalidAlgorithmError), so
    # the header is not parsed separately: that would cost a second parse per request.
    key = _verification_key(token, config)
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[config.algorithm],
            audience=config.audience,
            issuer=config.issuer,
            leeway=config.leeway_seconds,
            options={"require": list(_REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise AuthError("token not yet valid") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"missing claim: {exc.claim}") from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthError("wrong audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError("wrong issuer") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise AuthError("algorithm not allowed") from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthError("bad signature") from exc
    except jwt.DecodeError as exc:
        raise AuthError("malformed token") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("invalid token") from exc


def verify_token(token: str, config: AuthConfig) -> Principal:
    """Verify ``token`` and return who it speaks for, or raise :class:`AuthError`.

    With a JWKS URL this may fetch keys over the network (cached afterwards); async
    callers should run it off the event loop in that case.
    """
    if not isinstance(token, str) or not token:
        raise AuthError("missing token")
    claims = _decode(token, config)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthError("missing claim: sub")
    roles = Role.parse_known(_string_list(claims, "roles"))
    clinics = frozenset(_string_list(claims, "clinics"))
    return Principal(staff_id=sub, roles=roles, clinic_ids=clinics)


def issue_token(
    secret: str,
    *,
    sub: str,
    roles: list[str],
    clinics: list[str],
    ttl_seconds: int = 3600,
    now: datetime | None = None,
    issuer: str = "carecoord",
    audience: str = "carecoord",
) -> str:
    """Sign an HS256 token for the local stack, scripts and tests.

    Production tokens come from the identity provider; this exists so a developer can
    call the APIs of a locally running stack with a chosen role and clinic.
    """
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    if not sub:
        raise ValueError("sub must not be empty")
    issued_at = now if now is not None else datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": [str(role) for role in roles],
        "clinics": list(clinics),
        "iss": issuer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + timedelta(seconds=ttl_seconds),
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, secret, algorithm="HS256")
